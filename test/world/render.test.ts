import { describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import { makeRng } from "../../src/util/prng.ts";
import { render, renderBase, renderReference, STYLES } from "../../src/world/render.ts";
import { BACKGROUND_RGB, COLOUR_RGB, type ShapeAttributes } from "../../src/world/vocabulary.ts";

const prompt: ShapeAttributes = { colour: "blue", shape: "triangle", size: "large", position: "right", background: "white" };

const meanAbsDiff = (a: RgbImage, b: RgbImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;
const pixel = (image: RgbImage, x: number, y: number) => {
  const plane = image.height * image.width;
  return [0, 1, 2].map((c) => image.data[c * plane + y * image.width + x]);
};
/** Pixels that differ from the image's top-left corner colour. */
const silhouette = (image: RgbImage) => {
  const corner = pixel(image, 0, 0);
  const mask: number[] = [];
  for (let y = 0; y < image.height; y++)
    for (let x = 0; x < image.width; x++) mask.push(Math.hypot(...pixel(image, x, y).map((v, c) => v - corner[c])) > 0.3 ? 1 : 0);
  return mask;
};

describe("render", () => {
  it("returns a [3,H,W] image in [0,1] at the requested size", () => {
    for (const style of STYLES) {
      for (const size of [32, 48]) {
        const image = render(prompt, style, makeRng(1), { size });
        expect([image.height, image.width, image.data.length]).toEqual([size, size, 3 * size * size]);
        expect(image.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      }
    }
  });

  it("is deterministic per seed and jitters across seeds", () => {
    for (const style of STYLES) {
      expect(render(prompt, style, makeRng(4)).data).toEqual(render(prompt, style, makeRng(4)).data);
      expect(meanAbsDiff(render(prompt, style, makeRng(4)), render(prompt, style, makeRng(5)))).toBeGreaterThan(0.002);
    }
  });

  it("paints the base style flat: the prompt's background and colour", () => {
    const image = renderBase(prompt, makeRng(2));
    expect(pixel(image, 0, 0)).toEqual([...BACKGROUND_RGB.white].map(Math.fround));
    const centreX = Math.round(0.72 * 32);
    expect(pixel(image, centreX, 20)).toEqual([...COLOUR_RGB.blue].map(Math.fround));
  });

  it("gives reference styles a different look over the same geometry", () => {
    const base = renderBase(prompt, makeRng(9));
    const baseMask = silhouette(base);
    for (const style of ["shaded", "striped"] as const) {
      const reference = renderReference(prompt, makeRng(9), style);
      expect(meanAbsDiff(base, reference)).toBeGreaterThan(0.02);
      const mask = silhouette(reference);
      const disagreeing = mask.filter((m, i) => m !== baseMask[i]).length;
      expect(disagreeing / baseMask.reduce((s, m) => s + m, 0)).toBeLessThan(0.25);
    }
    expect(meanAbsDiff(renderReference(prompt, makeRng(9), "shaded"), renderReference(prompt, makeRng(9), "striped"))).toBeGreaterThan(0.02);
  });

  it("places left, center and right shapes in order, and large ones wider than small", () => {
    const mass = (image: RgbImage) => {
      const mask = silhouette(image);
      const xs = mask.flatMap((m, i) => (m ? [i % image.width] : []));
      return { count: xs.length, meanX: xs.reduce((s, x) => s + x, 0) / xs.length };
    };
    const [left, center, right] = (["left", "center", "right"] as const).map((position) => mass(renderBase({ ...prompt, position }, makeRng(3))));
    expect(left.meanX).toBeLessThan(center.meanX - 5);
    expect(center.meanX).toBeLessThan(right.meanX - 5);
    expect(mass(renderBase({ ...prompt, size: "small" }, makeRng(3))).count * 3).toBeLessThan(right.count);
  });
});
