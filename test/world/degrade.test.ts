import { describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import { makeRng } from "../../src/util/prng.ts";
import { degrade, DEGRADATIONS } from "../../src/world/degrade.ts";
import { renderBase } from "../../src/world/render.ts";

const image = renderBase({ colour: "green", shape: "square", size: "large", position: "center", background: "black" }, makeRng(1));
const meanAbsDiff = (a: RgbImage, b: RgbImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;

describe("degrade", () => {
  for (const kind of DEGRADATIONS) {
    it(`${kind}: changes a copy, stays in [0,1], is reproducible per seed`, () => {
      const before = new Float32Array(image.data);
      const once = degrade(image, kind, makeRng(5));
      expect(image.data).toEqual(before);
      expect([once.height, once.width, once.data.length]).toEqual([32, 32, image.data.length]);
      expect(once.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(meanAbsDiff(once, image)).toBeGreaterThan(0.003);
      expect(degrade(image, kind, makeRng(5)).data).toEqual(once.data);
      expect(degrade(image, kind, makeRng(6)).data).not.toEqual(once.data);
      expect(meanAbsDiff(degrade(image, kind, makeRng(5), 0.3), image)).toBeLessThan(meanAbsDiff(once, image));
    });
  }

  it("leaves an image without a shape unchanged where the damage needs a shape", () => {
    const blank = { data: new Float32Array(3 * 16 * 16).fill(0.5), height: 16, width: 16 };
    for (const kind of ["shrink", "break"] as const) expect(degrade(blank, kind, makeRng(0)).data).toEqual(blank.data);
  });
});
