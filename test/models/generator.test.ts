import { describe, expect, it } from "vitest";
import { defaultDiTConfig, type DiTConfig } from "../../src/models/generator/dit.ts";
import { GENERATOR_NAMES, type GeneratorModel, loadGeneratorModel } from "../../src/models/generator/contract.ts";
import { guidedVelocity } from "../../src/models/generator/sampling.ts";
import { generatorOnnx } from "../../src/models/generator/export.ts";
import { flowMatchingModel, TRAIN_INPUTS, velocityModel } from "../../src/models/generator/network.ts";
import { bagOfWords, bagOfWordsEncoder, UnknownWordError, VOCABULARY } from "../../src/models/text/bag-of-words.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { compileForward, compileTrainStep, paramFeeds } from "../../src/train/train-graph.ts";
import { modelGradCheck } from "../autodiff/gradcheck.ts";
import { randomF32, randomParams, tinyConfig, withRandomInit } from "../pretrain/generator-fixtures.ts";

/** Parameter count of the DiT + text table, written out layer by layer from the architecture. */
const expectedParamCount = (c: DiTConfig): number => {
  const d = c.width;
  const tokens = (c.size / c.patch) ** 2;
  const pixels = c.patch * c.patch * c.channels;
  const linear = (i: number, o: number) => i * o + o;
  const block = linear(d, 6 * d) + linear(d, 3 * d) + linear(d, d) + linear(d, c.mlpRatio * d) + linear(c.mlpRatio * d, d);
  return (
    VOCABULARY.length * c.textWidth +
    linear(pixels, d) + // patchify conv
    tokens * d + // positional embedding
    2 * linear(d, d) + linear(c.textWidth, d) + linear(d, d) + // sigma and text MLPs
    c.depth * block +
    linear(d, 2 * d) + linear(d, pixels)
  );
};

describe("velocity network", () => {
  it("maps latents [B,C,H,W], sigma [B], pooled_embeds [B,D] to velocity [B,C,H,W]", async () => {
    const compiled = compileForward("tiny", velocityModel(tinyConfig, 2));
    expect(compiled.dataInputs).toEqual([
      { name: "latents", shape: [2, 3, 8, 8] },
      { name: "sigma", shape: [2] },
      { name: "pooled_embeds", shape: [2, 8] },
    ]);
    const session = await LocalSession.create(compiled.name, compiled.bytes);
    const out = await session.run({
      ...paramFeeds(randomParams(compiled.params, 1)),
      latents: randomF32([2, 3, 8, 8], 2),
      sigma: randomF32([2], 3),
      pooled_embeds: randomF32([2, 8], 4),
    });
    expect(out.velocity!.shape).toEqual([2, 3, 8, 8]);
    await session.release();
  });

  it("has the parameter count its architecture implies (default: about 1 M)", () => {
    for (const config of [tinyConfig, defaultDiTConfig]) {
      const params = compileTrainStep("count", flowMatchingModel(config, 1)).params;
      expect(params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)).toBe(expectedParamCount(config));
    }
    expect(expectedParamCount(defaultDiTConfig)).toBeGreaterThan(0.8e6);
    expect(expectedParamCount(defaultDiTConfig)).toBeLessThan(1.2e6);
  });

  it("backward graph of the flow-matching loss matches finite differences (text table included)", async () => {
    const batch = 2;
    const image = [batch, 3, 8, 8];
    const report = await modelGradCheck(
      withRandomInit(flowMatchingModel(tinyConfig, batch)),
      {
        [TRAIN_INPUTS.images]: randomF32(image, 11),
        [TRAIN_INPUTS.noise]: randomF32(image, 12),
        [TRAIN_INPUTS.t]: f32([batch], [0.3, 0.8]),
        [TRAIN_INPUTS.words]: bagOfWords(["a small red circle on the left, white background", ""]),
      },
      { samplesPerParam: 2, seed: 5 },
    );
    expect(report.checked).toBeGreaterThan(40);
  });

  it("its ONNX export (weights embedded) reproduces the training graph's forward", async () => {
    const batch = 2;
    const train = compileTrainStep("tiny-train", flowMatchingModel(tinyConfig, batch));
    const params = randomParams(train.params, 21);
    const x0 = randomF32([batch, 3, 8, 8], 22);
    const x1 = randomF32([batch, 3, 8, 8], 23);
    const t = Float32Array.from([0.25, 0.9]);
    const prompts = ["a large blue square on the right, black background", ""];
    const trainSession = await LocalSession.create(train.name, train.bytes);
    const trained = await trainSession.run(
      { ...paramFeeds(params), [TRAIN_INPUTS.images]: x0, [TRAIN_INPUTS.noise]: x1, [TRAIN_INPUTS.t]: { dtype: "float32", shape: [batch], data: t }, [TRAIN_INPUTS.words]: bagOfWords(prompts) },
      ["loss"],
    );

    const exported = await loadGeneratorModel(generatorOnnx(tinyConfig, params, batch), "tiny export");
    expect(exported.signature).toEqual({ batch, latentShape: [3, 8, 8], time: "sigma", pooledWidth: 8 });
    const per = x0.data.length / batch;
    const xt = new Float32Array(x0.data.length).map((_, i) => {
      const ti = t[Math.floor(i / per)]!;
      return (1 - ti) * (x0.data[i] as number) + ti * (x1.data[i] as number);
    });
    const text = await bagOfWordsEncoder(params).encode(prompts);
    const v = await exported.velocity({ dtype: "float32", shape: [batch, 3, 8, 8], data: xt }, t, text);
    const loss = v.reduce((sum, vi, i) => sum + (vi - ((x1.data[i] as number) - (x0.data[i] as number))) ** 2, 0) / v.length;
    expect(loss).toBeCloseTo(Number(trained.loss!.data[0]), 5);
    await Promise.all([trainSession.release(), exported.release()]);
  });
});

describe("bag-of-words text encoder", () => {
  it("pools the content words; the empty prompt is its own token", () => {
    const w = bagOfWords(["a small red circle on the left, white background", ""]).data as Float32Array;
    const v = VOCABULARY.length;
    const first = Array.from(w.subarray(0, v));
    expect(first.filter((x) => x > 0)).toHaveLength(5);
    for (const word of ["small", "red", "circle", "left", "white"]) expect(first[VOCABULARY.indexOf(word)]).toBeCloseTo(0.2);
    expect(Array.from(w.subarray(v))).toEqual(VOCABULARY.map((_, i) => (i === 0 ? 1 : 0)));
  });

  it("rejects a word it has no embedding for", () => {
    expect(() => bagOfWords(["a small pink circle"])).toThrow(UnknownWordError);
    expect(() => bagOfWords(["a small pink circle"])).toThrow(/'pink'.*vocabulary/);
  });

  it("host encoding equals weights x table", async () => {
    const specs = compileForward("spec", flowMatchingModel(tinyConfig, 1)).params;
    const params = randomParams(specs, 3);
    const table = params.find((p) => p.name === "text.embedding")!;
    const { pooled } = await bagOfWordsEncoder(params).encode(["red circle", ""]);
    const red = VOCABULARY.indexOf("red");
    const circle = VOCABULARY.indexOf("circle");
    for (let d = 0; d < tinyConfig.textWidth; d++) {
      expect(pooled!.data[d]).toBeCloseTo(0.5 * table.data[red * 8 + d]! + 0.5 * table.data[circle * 8 + d]!, 6);
      expect(pooled!.data[8 + d]).toBeCloseTo(table.data[d]!, 6);
    }
    expect(GENERATOR_NAMES.pooled).toBe("pooled_embeds");
  });
});

describe("classifier-free guidance callback", () => {
  it("evaluates both branches in one batch of 2B and mixes v_u + w (v_c - v_u)", async () => {
    const batches: number[] = [];
    // velocity = the sample's pooled value (cond 2 or 3, uncond 1) times its latent
    const fake: GeneratorModel = {
      source: "fake",
      signature: { batch: "B", latentShape: [1, 1, 2], time: "sigma", pooledWidth: 1 },
      velocity: async (latents, sigma, text) => {
        batches.push(sigma.length);
        return (latents.data as Float32Array).map((x, i) => x * (text.pooled!.data[Math.floor(i / 2)] as number));
      },
      release: async () => {},
    };
    const cond = { pooled: f32([2, 1], [2, 3]) };
    const uncond = { pooled: f32([2, 1], [1, 1]) };
    const x = Float32Array.from([1, 2, 3, 4]);
    const guided = await guidedVelocity(fake, cond, uncond, 4)(x, Float32Array.from([0.5, 0.5]));
    expect(Array.from(guided)).toEqual([1 + 4 * (2 - 1), 2 * (1 + 4 * (2 - 1)), 3 * (1 + 4 * (3 - 1)), 4 * (1 + 4 * (3 - 1))]);
    const plain = await guidedVelocity(fake, cond, uncond, 1)(x, Float32Array.from([0.5, 0.5]));
    expect(Array.from(plain)).toEqual([2, 4, 9, 12]);
    expect(batches).toEqual([4, 2]);
  });
});
