import { describe, expect, it } from "vitest";
import type { Features } from "../../src/models/backbone/features.ts";
import { Discriminator } from "../../src/models/discriminator/discriminator.ts";
import { DEFAULT_HEAD, discriminatorAccuracy, discriminatorTrainBuilder, flatPatchRows, type HeadConfig, samplePatchIndices } from "../../src/models/discriminator/head.ts";
import { getParam } from "../../src/optim/param-set.ts";
import { f32, hostTensor } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";
import { modelGradCheck } from "../autodiff/gradcheck.ts";

const tokens = (cls: number[][], patches: number[][][]): Features => ({
  batch: cls.length,
  dim: cls[0]!.length,
  patchCount: patches[0]!.length,
  cls: Float32Array.from(cls.flat()),
  patches: Float32Array.from(patches.flat(2)),
  pooledDim: cls[0]!.length,
  pooled: Float32Array.from(cls.flat()),
});

const config = (over: Partial<HeadConfig> = {}): HeadConfig => ({ ...DEFAULT_HEAD, dim: 2, hidden: 2, patchesPerImage: 2, ...over });

/** h(x) = gelu(x0) - gelu(x1): fc1 = identity, fc2 = [1, -1], no biases. */
const handHead = (d: Discriminator) => {
  getParam(d.params, "fc1.weight").data.set([1, 0, 0, 1]);
  getParam(d.params, "fc1.bias").data.fill(0);
  getParam(d.params, "fc2.weight").data.set([1, -1]);
  getParam(d.params, "fc2.bias").data.fill(0);
};

// gelu(1) = 0.8413447, gelu(2) = 1.9544997, gelu(3) = 2.9959503, gelu(-1) = -0.1586553
const ref = tokens([[2, 0], [0, 1]], [[[1, 0], [3, 0]], [[0, 0], [0, 0]]]);
const gen = tokens([[0, 2], [-1, 0]], [[[0, 1], [0, 0]], [[-1, 0], [0, 3]]]);
const refIdx = Int32Array.from([0, 1, 1, 1]);
const genIdx = Int32Array.from([0, 0, 0, 1]);

describe("discriminator head", () => {
  it("computes the hinge losses, accuracy and reward of hand-worked values", async () => {
    const d = new Discriminator(config(), 2, 1, { lr: 0, betas: [0.5, 0.999] });
    handHead(d);
    const m = await d.step({ features: ref, patchIndices: refIdx }, { features: gen, patchIndices: genIdx });
    // L_global = 0.5 [mean(relu(1 - 1.9545), relu(1 + 0.84134)) + mean(relu(1 - 1.9545), relu(1 - 0.15866))]
    expect(m.lossGlobal).toBeCloseTo(0.6706724, 5);
    // L_local = 0.5 [mean(0.15866, 0, 1, 1) + mean(0.15866, 0.15866, 0.84134, 0)]
    expect(m.lossLocal).toBeCloseTo(0.4146638, 5);
    expect(m.loss).toBeCloseTo(0.6706724 + 0.3 * 0.4146638, 5);
    // refs: h = 1.95 > 0, -0.84 < 0; gens: -1.95 < 0, -0.16 < 0
    expect(m.accuracy).toBe(0.75);
    const s = await d.score({ features: ref, patchIndices: refIdx });
    // 0.7 * 1.9545 + 0.3 * mean(gelu(1), gelu(3)); 0.7 * -0.84134 + 0.3 * 0
    expect(s.reward[0]).toBeCloseTo(1.9437441, 5);
    expect(s.reward[1]).toBeCloseTo(-0.5889413, 5);
    await d.release();
  });

  it("a constant head gives the textbook hinge values", async () => {
    const d = new Discriminator(config(), 2, 1);
    getParam(d.params, "fc2.weight").data.fill(0);
    getParam(d.params, "fc2.bias").data.fill(0.5);
    const m = await d.step({ features: ref, patchIndices: refIdx }, { features: gen, patchIndices: genIdx });
    expect(m.lossGlobal).toBeCloseTo(0.5 * (0.5 + 1.5), 6);
    expect(m.loss).toBeCloseTo(1.3, 6);
    expect(m.accuracy).toBe(0.5);
    await d.release();
  });

  it("scores the l2 token transform on unit tokens (h depends on direction only)", async () => {
    const d = new Discriminator(config({ tokenTransform: "l2" }), 2, 1);
    handHead(d);
    const scaled = tokens([[20, 0], [0, 1]], [[[10, 0], [30, 0]], [[0, 0], [0, 0]]]);
    const [a, b] = [await d.score({ features: scaled, patchIndices: refIdx }), await d.score({ features: tokens([[1, 0], [0, 1]], [[[1, 0], [1, 0]], [[0, 0], [0, 0]]]), patchIndices: refIdx })];
    expect(a.cls[0]).toBeCloseTo(b.cls[0]!, 6);
    expect(a.cls[0]).toBeCloseTo(0.8413447, 5);
    await d.release();
  });

  it("computes the logged accuracy", () => {
    expect(discriminatorAccuracy([1, -1, 2, 3], [-1, -2, 0.5, -3])).toBe(0.75);
    expect(discriminatorAccuracy([0], [0])).toBe(0);
  });

  it("draws patch indices reproducibly and flattens them per image", () => {
    const a = samplePatchIndices(makeRng(3), 2, 64, 64);
    expect(a).toEqual(samplePatchIndices(makeRng(3), 2, 64, 64));
    expect(Math.max(...a)).toBeLessThan(64);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(new Set(a).size).toBeGreaterThan(30);
    expect(Array.from(flatPatchRows(Int32Array.from([1, 0, 2, 2]), 2, 5), Number)).toEqual([1, 0, 7, 7]);
  });

  it("differentiates its training graph correctly", async () => {
    const c = config({ dim: 4, hidden: 8, patchesPerImage: 3 });
    const rng = makeRng(9);
    const data = (prefix: string, b: number) => ({
      [`${prefix}cls`]: f32([b, 4], rng.fillNormal(new Float32Array(b * 4))),
      [`${prefix}patches`]: f32([b, 5, 4], rng.fillNormal(new Float32Array(b * 20))),
      [`${prefix}patch_rows`]: hostTensor("int64", [b * 3], flatPatchRows(samplePatchIndices(rng, b, 5, 3), b, 5)),
    });
    const report = await modelGradCheck(discriminatorTrainBuilder(c, 2, 3, 5), { ...data("ref_", 2), ...data("gen_", 3) }, { samplesPerParam: 6 });
    expect(report.checked).toBe(6 + 6 + 6 + 1); // fc2.bias has one element
  });

  it("learns to separate two token clouds and resumes exactly from exported state", async () => {
    const c = config({ dim: 4, hidden: 16 });
    const rng = makeRng(4);
    const cloud = (shift: number) => tokens(
      Array.from({ length: 6 }, () => Array.from({ length: 4 }, (_, j) => rng.normal() * 0.3 + (j === 0 ? shift : 0))),
      Array.from({ length: 6 }, () => Array.from({ length: 3 }, () => Array.from({ length: 4 }, (_, j) => rng.normal() * 0.3 + (j === 0 ? shift : 0)))),
    );
    const [pos, neg] = [cloud(1), cloud(-1)];
    const idx = (k: number) => samplePatchIndices(makeRng(k), 6, 3, 2);
    const d = new Discriminator({ ...c }, 3, 2, { lr: 1e-2, betas: [0.5, 0.999] });
    let last = { accuracy: 0, loss: Infinity };
    for (let s = 0; s < 40; s++) last = await d.step({ features: pos, patchIndices: idx(s) }, { features: neg, patchIndices: idx(100 + s) });
    expect(last.accuracy).toBe(1);
    expect(last.loss).toBeLessThan(0.3);

    const saved = d.exportState();
    const resumed = new Discriminator(c, 3, 99, { lr: 1e-2, betas: [0.5, 0.999] });
    resumed.importState(saved);
    const [a, b] = [await d.step({ features: pos, patchIndices: idx(7) }, { features: neg, patchIndices: idx(8) }), await resumed.step({ features: pos, patchIndices: idx(7) }, { features: neg, patchIndices: idx(8) })];
    expect(b.loss).toBe(a.loss);
    expect(getParam(resumed.params, "fc1.weight").data).toEqual(getParam(d.params, "fc1.weight").data);
    await Promise.all([d.release(), resumed.release()]);
  });
});
