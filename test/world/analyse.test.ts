import { describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import { makeRng } from "../../src/util/prng.ts";
import { analyseImage, checkAlignment } from "../../src/world/analyse.ts";
import { degrade } from "../../src/world/degrade.ts";
import { ALL_PROMPTS } from "../../src/world/prompt.ts";
import { render, renderBase, STYLES } from "../../src/world/render.ts";
import type { ShapeAttributes } from "../../src/world/vocabulary.ts";

const RENDERS_PER_STYLE = 300;

const sampledPrompts = (seed: number, n: number) => {
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => ALL_PROMPTS[rng.int(ALL_PROMPTS.length)]);
};

const uniformImage = (rgb: readonly number[], size = 32): RgbImage => {
  const plane = size * size;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) data.fill(rgb[c], c * plane, (c + 1) * plane);
  return { data, height: size, width: size };
};

describe("alignment analyser on the world's own renders", () => {
  for (const style of STYLES) {
    it(`scores >= 98% on ${RENDERS_PER_STYLE} ${style} renders`, () => {
      const prompts = sampledPrompts(100 + STYLES.indexOf(style), RENDERS_PER_STYLE);
      const aligned = prompts.filter((a, i) => checkAlignment(render(a, style, makeRng(i).fork(style)), a).aligned).length;
      expect(aligned / RENDERS_PER_STYLE).toBeGreaterThanOrEqual(0.98);
    });
  }

  it("scores >= 98% at other image sizes too", () => {
    for (const size of [24, 64]) {
      const prompts = sampledPrompts(size, 60);
      const aligned = prompts.filter((a, i) => checkAlignment(render(a, STYLES[i % 3], makeRng(i), { size }), a).aligned).length;
      expect(aligned / prompts.length).toBeGreaterThanOrEqual(0.98);
    }
  });

  it("reports exactly the attribute that differs from the prompt", () => {
    const drawn: ShapeAttributes = { colour: "orange", shape: "cross", size: "large", position: "center", background: "gray" };
    const image = renderBase(drawn, makeRng(0));
    expect(checkAlignment(image, drawn)).toMatchObject({ aligned: true, found: { ...drawn, problem: null } });
    const wrong: Array<[keyof ShapeAttributes, ShapeAttributes]> = [
      ["colour", { ...drawn, colour: "red" }],
      ["shape", { ...drawn, shape: "square" }],
      ["size", { ...drawn, size: "small" }],
      ["position", { ...drawn, position: "left" }],
      ["background", { ...drawn, background: "white" }],
    ];
    for (const [attribute, prompt] of wrong) {
      const result = checkAlignment(image, prompt);
      expect(result.aligned).toBe(false);
      for (const key of ["colour", "shape", "size", "position", "background"] as const) {
        expect(result[key]).toBe(key !== attribute);
      }
    }
  });
});

describe("alignment analyser on images that show no prompt", () => {
  it("finds nothing in blank images", () => {
    for (const rgb of [[0.95, 0.95, 0.95], [0.5, 0.5, 0.5], [0.08, 0.08, 0.08], [0.86, 0.12, 0.12]]) {
      const found = analyseImage(uniformImage(rgb));
      expect(found).toMatchObject({ shape: null, colour: null });
      expect(found.problem).toMatch(/no shape/);
    }
  });

  it("never aligns noise", () => {
    const prompts = sampledPrompts(7, 100);
    prompts.forEach((prompt, i) => {
      const rng = makeRng(i);
      const uniform = uniformImage([0, 0, 0]).data.map(() => rng.next());
      const gaussian = uniformImage([0, 0, 0]).data.map(() => Math.min(Math.max(0.5 + 0.25 * rng.normal(), 0), 1));
      for (const data of [uniform, gaussian]) {
        expect(checkAlignment({ data, height: 32, width: 32 }, prompt).aligned).toBe(false);
      }
    });
  });

  it("rejects broken shapes and sees shrunken large shapes as small", () => {
    const large = sampledPrompts(8, 60).map((a) => ({ ...a, size: "large" }) as const);
    const broken = large.filter((a, i) => checkAlignment(degrade(renderBase(a, makeRng(i)), "break", makeRng(i)), a).aligned);
    expect(broken.length).toBeLessThanOrEqual(3);
    const shrunk = large.filter((a, i) => analyseImage(degrade(renderBase(a, makeRng(i)), "shrink", makeRng(i))).size === "small");
    expect(shrunk.length).toBeGreaterThanOrEqual(57);
  });
});
