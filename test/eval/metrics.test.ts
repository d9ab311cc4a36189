import { describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import { dinoSimilarity, groupDiversity, MetricsInputError, pairwiseDiversity, scoreSamples, summarise, type EvalSample } from "../../src/eval/metrics.ts";
import { verdictOf } from "../../src/eval/style-classifier.ts";
import { makeRng } from "../../src/util/prng.ts";
import { parsePrompt } from "../../src/world/prompt.ts";
import { render } from "../../src/world/render.ts";

const prompt = parsePrompt("a large red circle on the left, white background");
const bluePrompt = parsePrompt("a large blue circle on the left, white background");
const squareRightPrompt = parsePrompt("a large red square on the right, black background");

const SHADED = verdictOf([0.9, 0.05, 0.05]);
const OTHER = verdictOf([0.2, 0.1, 0.7]);

const shadedRender = (seed: number) => render(prompt, "shaded", makeRng(seed));

describe("metrics", () => {
  it("aligned-and-styled is the per-image AND, not the product of the rates", () => {
    // Two aligned images judged "other", two misaligned (another prompt's image) judged "shaded".
    const samples: EvalSample[] = [
      { image: shadedRender(1), attributes: prompt, group: 0 },
      { image: shadedRender(2), attributes: prompt, group: 0 },
      { image: render(squareRightPrompt, "shaded", makeRng(3)), attributes: prompt, group: 1 },
      { image: render(squareRightPrompt, "shaded", makeRng(4)), attributes: prompt, group: 1 },
    ];
    const scores = scoreSamples(samples, [OTHER, OTHER, SHADED, SHADED], "shaded");
    const summary = summarise(samples, scores, "shaded");
    expect(summary.alignment).toBe(0.5);
    expect(summary.styledRate).toBe(0.5);
    expect(summary.alignedAndStyled).toBe(0);
    expect(summary.styleScore).toBeCloseTo((0.2 + 0.2 + 0.9 + 0.9) / 4, 6);
    expect(summary.dinoSimilarity).toBeNull();
  });

  it("counts an image that is both aligned and styled", () => {
    const samples: EvalSample[] = [1, 2, 3, 4].map((seed) => ({ image: shadedRender(seed), attributes: prompt, group: 0 }));
    const summary = summarise(samples, scoreSamples(samples, [SHADED, SHADED, OTHER, SHADED], "shaded"), "shaded");
    expect(summary.alignment).toBe(1);
    expect(summary.alignedAndStyled).toBe(0.75);
    // The target style decides what "styled" means: the same verdicts are never "striped".
    expect(summarise(samples, scoreSamples(samples, [SHADED, SHADED, OTHER, SHADED], "striped"), "striped").alignedAndStyled).toBe(0);
  });

  it("reports match rates attribute by attribute", () => {
    // The image shows a red circle where a blue one was asked for: only the colour is wrong.
    const samples: EvalSample[] = [
      { image: shadedRender(5), attributes: bluePrompt, group: 0 },
      { image: shadedRender(6), attributes: prompt, group: 0 },
    ];
    const summary = summarise(samples, scoreSamples(samples, [SHADED, SHADED], "shaded"), "shaded");
    expect(summary.attributeMatch).toEqual({ colour: 0.5, shape: 1, size: 1, background: 1, position: 1 });
    expect(summary.alignment).toBe(0.5);
  });

  it("diversity is 0 for identical images, grows with difference, and is measured within groups", () => {
    const a = shadedRender(7);
    const copy: RgbImage = { ...a, data: a.data.slice() };
    expect(pairwiseDiversity([a, copy, a])).toBe(0);
    expect(pairwiseDiversity([a])).toBeNull();
    const black: RgbImage = { data: new Float32Array(a.data.length), height: 32, width: 32 };
    const white: RgbImage = { data: new Float32Array(a.data.length).fill(1), height: 32, width: 32 };
    expect(pairwiseDiversity([black, white])).toBeCloseTo(1, 6);
    // Two groups of identical pairs: the difference between groups is not diversity.
    const samples: EvalSample[] = [
      { image: black, attributes: prompt, group: "g1" },
      { image: black, attributes: prompt, group: "g1" },
      { image: white, attributes: prompt, group: "g2" },
      { image: white, attributes: prompt, group: "g2" },
    ];
    expect(groupDiversity(samples)).toBe(0);
    expect(groupDiversity(samples.slice(1, 3))).toBeNull();
    expect(pairwiseDiversity([shadedRender(8), shadedRender(9)])).toBeGreaterThan(0);
  });

  it("DINO similarity is the cosine to the closest reference, scale-free", () => {
    const feature = Float32Array.from([1, 0, 0]);
    const refs = [Float32Array.from([0, 1, 0]), Float32Array.from([5, 5, 0])];
    expect(dinoSimilarity(feature, refs)).toBeCloseTo(Math.SQRT1_2, 6);
    expect(dinoSimilarity(Float32Array.from([3, 0, 0]), [Float32Array.from([2, 0, 0])])).toBeCloseTo(1, 6);
    expect(() => dinoSimilarity(feature, [Float32Array.from([1, 0])])).toThrow(MetricsInputError);

    const samples: EvalSample[] = [{ image: shadedRender(10), attributes: prompt, group: 0 }, { image: shadedRender(11), attributes: prompt, group: 0 }];
    const features = { generated: [feature, Float32Array.from([0, 1, 0])], references: [refs, [Float32Array.from([0, -1, 0])]] };
    const summary = summarise(samples, scoreSamples(samples, [SHADED, SHADED], "shaded", features), "shaded");
    expect(summary.dinoSimilarity).toBeCloseTo((Math.SQRT1_2 - 1) / 2, 6);
  });

  it("refuses inputs that do not line up", () => {
    const samples: EvalSample[] = [{ image: shadedRender(12), attributes: prompt, group: 0 }];
    expect(() => scoreSamples(samples, [SHADED, SHADED], "shaded")).toThrow(MetricsInputError);
    expect(() => scoreSamples(samples, [SHADED], "shaded", { generated: [], references: [] })).toThrow(/features.generated/);
    expect(() => summarise([], [], "shaded")).toThrow(MetricsInputError);
  });
});
