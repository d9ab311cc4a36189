import { describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import type { Features } from "../../src/models/backbone/features.ts";
import type { ScoredTokens } from "../../src/models/discriminator/discriminator.ts";
import { adversarialDinoReward, frozenDiscriminatorReward } from "../../src/rewards/discriminator-reward.ts";
import { ocrReward, ocrScore, ocrTarget, type OcrPort } from "../../src/rewards/ocr.ts";
import { levenshtein } from "../../src/util/levenshtein.ts";
import { RewardInputError, type RewardBatch, type RewardComponent, scoreWeighted, weightedReward } from "../../src/rewards/reward.ts";
import { dinoSimilarityReward } from "../../src/rewards/similarity.ts";

const image = (tag: number): RgbImage => ({ data: new Float32Array(3).fill(tag), height: 1, width: 1 });
const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const features = (pooled: number[][]): Features => ({
  batch: pooled.length,
  dim: pooled[0]!.length,
  patchCount: 1,
  cls: Float32Array.from(pooled.flat()),
  patches: Float32Array.from(pooled.flat()),
  pooledDim: pooled[0]!.length,
  pooled: Float32Array.from(pooled.flat()),
});
const constant = (name: string, values: number[]): RewardComponent => ({ name, score: async () => Float32Array.from(values) });

/** Reads the text an image "shows" from its first pixel value. */
const fakeOcr = (texts: readonly string[]): OcrPort => ({ recognise: async (im) => texts[im.data[0]!]! });

describe("OCR reward (Flow-GRPO formula)", () => {
  it("extracts the first quoted text", () => {
    expect(ocrTarget('a sign that says "Hello World" and "bye"')).toBe("Hello World");
    expect(ocrTarget("no quotes")).toBeUndefined();
  });

  it("computes edit distances and the clipped score", () => {
    expect(levenshtein("kitten", "sitting")).toBe(3);
    expect(levenshtein("", "abc")).toBe(3);
    expect(ocrScore("HELLO world", "hello world")).toBe(1); // case and spaces ignored
    expect(ocrScore("big helloworld sign", "hello world")).toBe(1); // substring: distance 0
    expect(ocrScore("helo world", "hello world")).toBeCloseTo(1 - 1 / 10, 6); // 10 characters without the space
    expect(ocrScore("zzzzzzzzzzzzzzzzzzzzzzz", "abc")).toBe(0); // distance clipped at len(target)
  });

  it("scores 1 for the prompt's text, less for a wrong one, and mixes with similarity by lambda", async () => {
    const batch: RewardBatch = { images: [image(0), image(1)], prompts: ['a card reading "open"', 'a card reading "open"'] };
    const ocr = fakeOcr(["OPEN", "oven"]);
    expect(Array.from(await ocrReward({ ocr, lambda: 1 }).score(batch))).toEqual([1, 0.75]);
    const mixed = await ocrReward({ ocr, lambda: 0.8, similarity: constant("sim", [0.5, 0.25]) }).score(batch);
    expect(mixed[0]).toBeCloseTo(0.8 * 1 + 0.2 * 0.5, 6);
    expect(mixed[1]).toBeCloseTo(0.8 * 0.75 + 0.2 * 0.25, 6);
    expect(() => ocrReward({ ocr, lambda: 0.5 })).toThrow(RewardInputError);
    await expect(ocrReward({ ocr, lambda: 1 }).score({ images: [image(0)], prompts: ["no quote"] })).rejects.toThrow(/quotes no text/);
  });
});

describe("DINO similarity", () => {
  it("takes the best cosine over the prompt's references", async () => {
    const references = { width: 2, byPrompt: new Map([["p", Float32Array.from([...unit(1, 0), ...unit(1, 1)])], ["q", Float32Array.from(unit(0, 1))]]) };
    const scores = await dinoSimilarityReward(references).score({ images: [image(0), image(0)], prompts: ["p", "q"], features: features([unit(0, 1), unit(1, 0)]) });
    expect(scores[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(scores[1]).toBeCloseTo(0, 6);
    await expect(dinoSimilarityReward(references).score({ images: [image(0)], prompts: ["r"], features: features([unit(1, 0)]) })).rejects.toThrow(/'r' has no reference/);
    await expect(dinoSimilarityReward(references).score({ images: [image(0)], prompts: ["p"] })).rejects.toThrow(/features is required/);
  });
});

describe("discriminator rewards and the weighted sum", () => {
  it("pass features and the recorded patch indices to the head", async () => {
    const seen: ScoredTokens[] = [];
    const scorer = { score: async (t: ScoredTokens) => (seen.push(t), { reward: Float32Array.from([0.25]), cls: new Float32Array(1), patch: new Float32Array(1) }) };
    const batch: RewardBatch = { images: [image(0)], prompts: ["p"], features: features([[1, 0]]), patchIndices: Int32Array.from([0]) };
    expect(Array.from(await adversarialDinoReward(scorer).score(batch))).toEqual([0.25]);
    expect(frozenDiscriminatorReward(scorer).name).toBe("frozen-discriminator");
    expect(seen[0]!.patchIndices).toBe(batch.patchIndices);
    await expect(adversarialDinoReward(scorer).score({ ...batch, patchIndices: undefined })).rejects.toThrow(/patchIndices is required/);
  });

  it("records every component and sums them with their weights", async () => {
    const batch: RewardBatch = { images: [image(0), image(0)], prompts: ["p", "p"] };
    const parts = [{ component: constant("a", [1, 2]), weight: 0.5 }, { component: constant("b", [10, -10]), weight: 0.1 }];
    const scores = await scoreWeighted(parts, batch);
    expect(Array.from(scores.components.a!)).toEqual([1, 2]);
    expect(Array.from(scores.components.b!)).toEqual([10, -10]);
    expect(Array.from(scores.total)).toEqual([1.5, 0]);
    expect(Array.from(await weightedReward("sum", parts).score(batch))).toEqual([1.5, 0]);
    await expect(scoreWeighted([...parts, { component: constant("a", [0, 0]), weight: 1 }], batch)).rejects.toThrow(/used by two components/);
    await expect(scoreWeighted([{ component: constant("c", [1]), weight: 1 }], batch)).rejects.toThrow(/has 1 values for 2 images/);
  });
});
