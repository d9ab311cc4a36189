import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeImageFile } from "../../src/io/image-file.ts";
import { parsePrompts, readPromptFile } from "../../src/io/prompt-file.ts";
import { loadReferenceSet } from "../../src/io/reference-set.ts";
import { loadStyleFolder, styleIndicesFor } from "../../src/io/style-folder.ts";

/** A width x height image whose left half is red and right half blue, in the given format. */
const halves = async (width: number, height: number, format: "png" | "jpeg" | "webp"): Promise<Uint8Array> => {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], 3 * (y * width + x));
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  return format === "png" ? image.png().toBuffer() : format === "jpeg" ? image.jpeg({ quality: 95 }).toBuffer() : image.webp({ lossless: true }).toBuffer();
};

const solid = (width: number, height: number, rgb: [number, number, number], format: "png" | "jpeg" | "webp") =>
  sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .toFormat(format)
    .toBuffer();

const pixel = (image: { data: Float32Array; height: number; width: number }, c: number, y: number, x: number) => image.data[c * image.height * image.width + y * image.width + x]!;

describe("user image files (sharp)", () => {
  it("decodes PNG, JPEG and WebP into planar RGB in [0, 1]", async () => {
    for (const format of ["png", "jpeg", "webp"] as const) {
      const image = await decodeImageFile(await halves(16, 8, format), `x.${format}`);
      expect([image.height, image.width, image.data.length]).toEqual([8, 16, 3 * 8 * 16]);
      expect(pixel(image, 0, 4, 1)).toBeGreaterThan(0.9); // red on the left
      expect(pixel(image, 2, 4, 14)).toBeGreaterThan(0.9); // blue on the right
      expect(pixel(image, 2, 4, 1)).toBeLessThan(0.1);
    }
  });

  it("resizes the short side and crops the centre", async () => {
    // 40 x 10: the centre 10 x 10 crop straddles the red/blue boundary in its middle
    const image = await decodeImageFile(await halves(40, 10, "png"), "wide.png", 6);
    expect([image.height, image.width]).toEqual([6, 6]);
    expect(pixel(image, 0, 3, 0)).toBeGreaterThan(0.9);
    expect(pixel(image, 2, 3, 5)).toBeGreaterThan(0.9);
    const tall = await decodeImageFile(await solid(7, 30, [0, 255, 0], "webp"), "tall.webp", 6);
    expect([tall.height, tall.width]).toEqual([6, 6]);
    expect(pixel(tall, 1, 0, 0)).toBeGreaterThan(0.9);
  });

  it("names the file of an unreadable or unsupported image", async () => {
    await expect(decodeImageFile(Uint8Array.from([1, 2, 3]), "broken.png")).rejects.toThrow(/image broken\.png: is not a readable image/);
    const gif = await sharp({ create: { width: 2, height: 2, channels: 3, background: "#000" } }).gif().toBuffer();
    await expect(decodeImageFile(gif, "anim.gif")).rejects.toThrow(/image anim\.gif: is gif; expected one of png, jpeg, webp/);
  });
});

describe("unpaired style folders", () => {
  const folder = async () => {
    const dir = mkdtempSync(join(tmpdir(), "style-"));
    writeFileSync(join(dir, "a.jpg"), await solid(30, 20, [255, 0, 0], "jpeg"));
    writeFileSync(join(dir, "b.PNG"), await solid(9, 9, [0, 255, 0], "png"));
    writeFileSync(join(dir, "c.webp"), await solid(12, 50, [0, 0, 255], "webp"));
    writeFileSync(join(dir, "notes.txt"), "not an image");
    return dir;
  };

  it("gives every prompt a fixed, wrapping subset of the folder's images, fitted to the backbone's input", async () => {
    expect(styleIndicesFor(0, 2, 3)).toEqual([0, 1]);
    expect(styleIndicesFor(1, 2, 3)).toEqual([2, 0]);
    const set = await loadStyleFolder(await folder(), ["p", "q"], { perPrompt: 2, size: 8 });
    expect([set.height, set.width]).toEqual([8, 8]);
    const colour = (prompt: string) => set.images.get(prompt)!.map((im) => [0, 1, 2].findIndex((c) => pixel(im, c, 4, 4) > 0.9));
    expect(colour("p")).toEqual([0, 1]); // a.jpg red, b.PNG green
    expect(colour("q")).toEqual([2, 0]); // c.webp blue, then wraps to a.jpg
    for (const image of set.images.get("q")!) expect([image.height, image.width]).toEqual([8, 8]);
    // a folder smaller than perPrompt: every image once, none twice
    const small = await loadStyleFolder(await folder(), ["p"], { perPrompt: 5, size: 8 });
    expect(small.images.get("p")!.map((im) => [0, 1, 2].findIndex((c) => pixel(im, c, 4, 4) > 0.9))).toEqual([0, 1, 2]);
  });

  it("names a folder without images, and a broken image", async () => {
    const empty = mkdtempSync(join(tmpdir(), "style-empty-"));
    writeFileSync(join(empty, "readme.md"), "x");
    await expect(loadStyleFolder(empty, ["p"], { perPrompt: 1, size: 8 })).rejects.toThrow(/style-empty-.*: holds no \.png \/ \.jpg \/ \.jpeg \/ \.webp images and no manifest\.json \(found: readme\.md\)/);
    const dir = await folder();
    writeFileSync(join(dir, "d.png"), "truncated");
    await expect(loadStyleFolder(dir, ["p", "q"], { perPrompt: 2, size: 8 })).rejects.toThrow(/d\.png: is not a readable image/);
  });

  it("a manifest may pair prompts with JPEG and WebP images of any size when they are fitted", async () => {
    const dir = await folder();
    writeFileSync(join(dir, "pairs.json"), JSON.stringify({ p: ["a.jpg", "c.webp"] }));
    const set = await Effect.runPromise(loadReferenceSet(dir, { fit: 8, manifest: "pairs.json" }));
    expect(set.images.get("p")!.map((im) => [im.height, im.width])).toEqual([[8, 8], [8, 8]]);
  });
});

describe("prompt files", () => {
  it("reads one prompt per line, skipping blank lines and CRLF endings", () => {
    expect(parsePrompts("a cat\r\n\n  a dog  \nan owl\n", "f", "prompts.train")).toEqual(["a cat", "a dog", "an owl"]);
  });

  it("names the file and field of an empty, repeated or missing prompt file", () => {
    expect(() => parsePrompts("\n\n", "p.txt", "prompts.train")).toThrow("prompts.train p.txt: holds no prompts (one prompt per line)");
    expect(() => parsePrompts("a\nb\na\n", "p.txt", "prompts.heldOut")).toThrow("prompts.heldOut p.txt: line 3 repeats the prompt of line 1 ('a')");
    expect(() => readPromptFile("/nonexistent/p.txt", "prompts.train")).toThrow(/prompts\.train \/nonexistent\/p\.txt: cannot be read/);
  });
});
