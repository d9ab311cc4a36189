import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import { describe, expect, it } from "vitest";
import { encodePng } from "../../src/io/png.ts";
import { defaultReferenceSet, loadReferenceSet, ReferenceSetError } from "../../src/io/reference-set.ts";
import { formatPrompt, promptsOf } from "../../src/world/prompt.ts";

const png = (size: number, value = 0.5) => encodePng({ data: new Float32Array(3 * size * size).fill(value), height: size, width: size });

const folder = (manifest: unknown, files: Record<string, Uint8Array | string>) => {
  const dir = mkdtempSync(join(tmpdir(), "refs-"));
  writeFileSync(join(dir, "manifest.json"), typeof manifest === "string" ? manifest : JSON.stringify(manifest));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
};

const failure = async (dir: string, options = {}): Promise<ReferenceSetError> => {
  const exit = await Effect.runPromiseExit(loadReferenceSet(dir, options));
  if (Exit.isSuccess(exit)) throw new Error("expected the load to fail");
  const error = exit.cause.reasons.find((r) => r._tag === "Fail");
  expect(error?._tag).toBe("Fail");
  const value = (error as { error: unknown }).error;
  expect(value).toBeInstanceOf(ReferenceSetError);
  return value as ReferenceSetError;
};

describe("reference sets", () => {
  it("loads a folder with its manifest", async () => {
    const dir = folder({ "a red circle": ["a.png", "b.png"], "a blue square": ["c.png"] }, { "a.png": png(8), "b.png": png(8, 0.2), "c.png": png(8) });
    const set = await Effect.runPromise(loadReferenceSet(dir, { knownPrompts: new Set(["a red circle", "a blue square"]) }));
    expect(set.images.get("a red circle")!.length).toBe(2);
    expect(set.images.get("a red circle")![1]!.data[0]).toBeCloseTo(0.2, 2);
    expect([set.height, set.width]).toEqual([8, 8]);
  });

  it("names the file and manifest field of every problem", async () => {
    const missing = await failure(folder({ p: ["a.png", "gone.png"] }, { "a.png": png(8) }));
    expect([missing.file.endsWith("gone.png"), missing.field]).toEqual([true, '["p"][1]']);

    const bad = await failure(folder({ p: ["a.png"] }, { "a.png": "not a png" }));
    expect(bad.field).toBe('["p"][0]');
    expect(bad.message).toMatch(/a\.png at \["p"\]\[0\]: is not a readable image/);

    const truncatedJpeg = await failure(folder({ p: ["a.jpg"] }, { "a.jpg": Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]) }));
    expect(truncatedJpeg.reason).toMatch(/is not a readable image|cannot be decoded as jpeg/);

    const unknown = await failure(folder({ "a red circel": ["a.png"] }, { "a.png": png(8) }), { knownPrompts: new Set(["a red circle"]) });
    expect([unknown.field, unknown.reason]).toEqual(['["a red circel"]', "is not a prompt of this run (check its spelling against the prompt list)"]);

    const size = await failure(folder({ p: ["a.png", "b.png"] }, { "a.png": png(8), "b.png": png(16) }));
    expect([size.field, size.reason]).toEqual(['["p"][1]', "is 16x16, expected 8x8 like the rest of the set"]);

    const wrongSize = await failure(folder({ p: ["a.png"] }, { "a.png": png(8) }), { size: { height: 32, width: 32 } });
    expect(wrongSize.reason).toMatch(/expected 32x32/);

    expect((await failure(folder("{ nope", {}))).reason).toMatch(/not valid JSON/);
    expect((await failure(folder({ p: "a.png" }, {}))).field).toBe('["p"]');
    expect((await failure(folder(["a.png"], {}))).reason).toMatch(/must be an object/);
    expect((await failure(mkdtempSync(join(tmpdir(), "empty-")))).reason).toMatch(/cannot be read/);
  });

  it("embeds the world's reference renders of the training prompts", () => {
    const set = defaultReferenceSet({ perPrompt: 2, seed: 3 });
    expect(set.images.size).toBe(promptsOf("train").length);
    const first = set.images.get(formatPrompt(promptsOf("train")[0]!))!;
    expect(first.length).toBe(2);
    expect(first[0]!.data).not.toEqual(first[1]!.data); // seeds differ per image
    expect(defaultReferenceSet({ perPrompt: 2, seed: 3 }).images.get(formatPrompt(promptsOf("train")[0]!))![1]!.data).toEqual(first[1]!.data);
  });
});
