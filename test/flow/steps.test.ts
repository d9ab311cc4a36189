import { describe, expect, it } from "vitest";
import { typedArrayFrom } from "../../src/graph/dtype.ts";
import { Graph } from "../../src/graph/graph.ts";
import { FlowConfigError } from "../../src/flow/errors.ts";
import { referenceEuler, referenceStep } from "./reference.ts";
import { sigmaSchedule } from "../../src/flow/schedule.ts";
import { cpsMethod, eulerStep, guide, logProbOf, sdeMethod, type StochasticMethod, stepGraph, stepIO, stochasticStep } from "../../src/flow/steps.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32, hostTensor } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";
import { gradCheck } from "../autodiff/gradcheck.ts";
import { runGraph } from "./run-graph.ts";

type FloatType = "float32" | "float64";

const schedule = sigmaSchedule(10, 3);
/** Per-sample sigmas of steps 0 (sigma = 1), 4 and 8 of the N = 10, shift = 3 schedule, in one batch. */
const stepIndices = [0, 4, 8];
const sigmas = stepIndices.map((i) => schedule.sigmas[i]!);
const sigmasNext = stepIndices.map((i) => schedule.sigmas[i + 1]!);
const latent = [2, 2, 2];
const size = 8;

const draw = (seed: number, n: number) => {
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => rng.normal());
};
const x = draw(1, 3 * size);
const v = draw(2, 3 * size);
const eps = draw(3, 3 * size);
const sampleOf = (values: readonly number[], b: number) => values.slice(b * size, (b + 1) * size);

/** A step graph in either precision; sigmas as per-sample inputs. */
const runStep = async (dtype: FloatType, method: StochasticMethod, fetch?: readonly string[], values = { x, v, eps, sigmas, sigmasNext }) => {
  const batch = values.sigmas.length;
  const shape = [batch, ...latent.slice(0, values.x.length / batch === 1 ? 0 : 3)];
  const g = new Graph("step-test");
  const t = stochasticStep(
    g.input("x", dtype, shape),
    g.input("v", dtype, shape),
    g.input("eps", dtype, shape),
    g.input("sigma", dtype, [batch]),
    g.input("sigma_next", dtype, [batch]),
    method,
  );
  g.output(t.next, "next");
  g.output(t.mean, "mean");
  g.output(t.std, "std");
  g.output(t.logProb, "log_prob");
  const feed = (s: readonly number[], data: readonly number[]) => hostTensor(dtype, s, typedArrayFrom(dtype, data));
  return runGraph(
    g,
    { x: feed(shape, values.x), v: feed(shape, values.v), eps: feed(shape, values.eps), sigma: feed([batch], values.sigmas), sigma_next: feed([batch], values.sigmasNext) },
    fetch,
  );
};

const methods: readonly [string, StochasticMethod][] = [
  ["Flow-SDE", sdeMethod()],
  ["Flow-CPS released", cpsMethod()],
  ["Flow-CPS gaussian", cpsMethod(0.8, "gaussian")],
];

describe("stochastic steps against hand formulas", () => {
  // One element, a = 1, sigma 0.5 -> 0.25, x = 1, v = 0.5, worked by hand:
  // SDE: std = sqrt(0.5 / 0.5) = 1, dt = -0.25, mean = 0.75 x - 0.375 v = 0.5625, s = 1 * sqrt(0.25) = 0.5,
  //      eps = 1 -> x' = 1.0625, logp = -0.25 / (2 * 0.25) - log 0.5 - log sqrt(2 pi) = -0.7257913.
  // CPS: std = 0.25 sin(pi/2) = 0.25, x0_hat = 0.75, mean = 0.75 * 0.75 + 0 = 0.5625, eps = 2 -> x' = 1.0625,
  //      released logp = -(0.5)^2 = -0.25, gaussian = -0.25 / (2 * 0.0625) - log 0.25 - log sqrt(2 pi) = -1.5326441.
  const hand = (eps: number) => ({ x: [1], v: [0.5], eps: [eps], sigmas: [0.5], sigmasNext: [0.25] });
  it.each([
    ["Flow-SDE", sdeMethod(1), 1, 0.5, -0.7257913],
    ["Flow-CPS released", cpsMethod(1), 2, 0.25, -0.25],
    ["Flow-CPS gaussian", cpsMethod(1, "gaussian"), 2, 0.25, -1.5326441],
  ] as const)("%s: one element worked by hand", async (_, method, noise, std, logProb) => {
    const out = await runStep("float32", method, undefined, hand(noise));
    expect(out.mean![0]).toBeCloseTo(0.5625, 6);
    expect(out.next![0]).toBeCloseTo(1.0625, 6);
    expect(out.std![0]).toBeCloseTo(std, 6);
    expect(out.log_prob![0]).toBeCloseTo(logProb, 6);
  });

  it.each(methods)("%s: every output matches the Float64 reference, per-sample sigmas in one batch", async (_, method) => {
    for (const dtype of ["float64", "float32"] as const) {
      const out = await runStep(dtype, method);
      const tolerance = dtype === "float64" ? 1e-12 : 2e-6;
      stepIndices.forEach((_, b) => {
        const ref = referenceStep(sampleOf(x, b), sampleOf(v, b), sampleOf(eps, b), sigmas[b]!, sigmasNext[b]!, schedule.sigmas[1]!, method);
        expect(Math.abs(out.std![b]! - ref.std)).toBeLessThan(tolerance * Math.max(1, ref.std));
        expect(Math.abs(out.log_prob![b]! - ref.logProb)).toBeLessThan(tolerance * Math.max(1, Math.abs(ref.logProb)) * 10);
        ref.next.forEach((value, k) => expect(Math.abs(out.next![b * size + k]! - value)).toBeLessThan(tolerance * Math.max(1, Math.abs(value)) * 10));
        ref.mean.forEach((value, k) => expect(Math.abs(out.mean![b * size + k]! - value)).toBeLessThan(tolerance * Math.max(1, Math.abs(value)) * 10));
      });
    }
  });

  it("Flow-SDE at sigma = 1 uses sigma_1 in the denominator: s = a and mean = (1 - a^2/2) x + dt v", async () => {
    const out = await runStep("float64", sdeMethod(0.7));
    const dt = sigmasNext[0]! - 1;
    expect(out.std![0]).toBeCloseTo(0.7, 12);
    sampleOf(x, 0).forEach((xi, k) => expect(out.mean![k]).toBeCloseTo((1 - 0.49 / 2) * xi + dt * v[k]!, 12));
    expect(Number.isFinite(out.log_prob![0])).toBe(true);
  });

  it.each([
    ["Flow-SDE", sdeMethod(0)],
    ["Flow-CPS", cpsMethod(0)],
  ] as const)("%s with a = 0 is the Euler ODE step", async (_, method) => {
    // The density is degenerate at a = 0 (std 0), so only next and mean are fetched.
    const out = await runStep("float32", method, ["next", "mean"]);
    stepIndices.forEach((_, b) => {
      const euler = referenceEuler(sampleOf(x, b), sampleOf(v, b), sigmas[b]!, sigmasNext[b]!);
      euler.forEach((value, k) => {
        expect(out.next![b * size + k]).toBeCloseTo(value, 5);
        expect(out.mean![b * size + k]).toBeCloseTo(value, 5);
      });
    });
  });

  it("the ODE step graph is x + (sigma_next - sigma) v", async () => {
    const shape = [3, ...latent];
    const out = await runGraph(stepGraph(3, latent, { kind: "ode" }), {
      [stepIO.x]: hostTensor("float32", shape, Float32Array.from(x)),
      [stepIO.velocity]: hostTensor("float32", shape, Float32Array.from(v)),
      [stepIO.sigma]: hostTensor("float32", [3], Float32Array.from(sigmas)),
      [stepIO.sigmaNext]: hostTensor("float32", [3], Float32Array.from(sigmasNext)),
    });
    stepIndices.forEach((_, b) =>
      referenceEuler(sampleOf(x, b), sampleOf(v, b), sigmas[b]!, sigmasNext[b]!).forEach((value, k) => expect(out[stepIO.next]![b * size + k]).toBeCloseTo(value, 5)),
    );
  });
});

describe("logProbOf", () => {
  it.each(methods)("%s: recomputing a step graph's transition gives the same bits (ratio exactly 1)", async (_, method) => {
    const shape = [3, ...latent];
    const f = (s: readonly number[], data: ArrayLike<number>) => hostTensor("float32", s, Float32Array.from(data));
    const common = { [stepIO.x]: f(shape, x), [stepIO.velocity]: f(shape, v), [stepIO.sigma]: f([3], sigmas), [stepIO.sigmaNext]: f([3], sigmasNext) };
    const sampled = await runGraph(stepGraph(3, latent, method), { ...common, [stepIO.noise]: f(shape, eps) });

    const g = new Graph("learner-side");
    const input = (name: string, s: readonly number[]) => g.input(name, "float32", s);
    g.output(logProbOf(input("x_next", shape), input(stepIO.x, shape), input(stepIO.velocity, shape), input(stepIO.sigma, [3]), input(stepIO.sigmaNext, [3]), method), "log_prob");
    const recomputed = await runGraph(g, { ...common, x_next: f(shape, sampled[stepIO.next]!) });
    expect(Array.from(recomputed.log_prob!)).toEqual(Array.from(sampled[stepIO.logProb]!));
  });

  it.each(methods)("%s: each sample's outputs are bit-identical alone and inside a batch of 37", async (_, method) => {
    // 37 different sigma pairs put samples in the vectorised body and in the scalar tail of ORT's kernels.
    const batch = 37;
    const rng = makeRng(9);
    const pairs = Array.from({ length: batch }, () => {
      const sigma = 0.05 + 0.95 * rng.next();
      return [sigma, sigma * rng.next()] as const;
    });
    const data = (seed: number) => Float32Array.from(draw(seed, batch * size));
    const [bx, bv, beps] = [data(4), data(5), data(6)];
    const feedsFor = (from: number, count: number) => {
      const shape = [count, ...latent];
      const rows = (a: Float32Array) => f32(shape, a.slice(from * size, (from + count) * size));
      return {
        [stepIO.x]: rows(bx),
        [stepIO.velocity]: rows(bv),
        [stepIO.noise]: rows(beps),
        [stepIO.sigma]: f32([count], pairs.slice(from, from + count).map((p) => p[0])),
        [stepIO.sigmaNext]: f32([count], pairs.slice(from, from + count).map((p) => p[1])),
      };
    };
    const together = await runGraph(stepGraph(batch, latent, method), feedsFor(0, batch));
    const single = await LocalSession.create("single", toOnnx(stepGraph(1, latent, method)));
    for (let b = 0; b < batch; b++) {
      const alone = await single.run(feedsFor(b, 1));
      expect(alone[stepIO.logProb]!.data[0]).toBe(together[stepIO.logProb]![b]);
      expect(alone[stepIO.std]!.data[0]).toBe(together[stepIO.std]![b]);
      expect(Array.from(alone[stepIO.next]!.data as Float32Array)).toEqual(Array.from(together[stepIO.next]!.slice(b * size, (b + 1) * size)));
    }
    await single.release();
  });

  it.each(methods)("%s: d logProb / d velocity matches finite differences", async (_, method) => {
    const report = await gradCheck({
      inputs: {
        // 5 elements per sample: the pairwise sum pads odd widths, so its Pad and Split are differentiated too
        xNext: { shape: [3, 5] },
        x: { shape: [3, 5] },
        v: { shape: [3, 5] },
        sigma: { shape: [3], values: sigmas },
        sigmaNext: { shape: [3], values: sigmasNext },
      },
      wrt: ["v"],
      build: (t) => logProbOf(t.xNext!, t.x!, t.v!, t.sigma!, t.sigmaNext!, method),
    });
    expect(report.checked).toBe(15);
  });

  it("refuses sigmas that are neither scalar nor one per sample", () => {
    const g = new Graph("bad-sigma");
    const t = g.input("x", "float32", [3, 4]);
    expect(() => logProbOf(t, t, t, g.input("sigma", "float32", [4]), g.input("sigma_next", "float32", [3]), sdeMethod())).toThrow(FlowConfigError);
  });
});

describe("guidance and settings", () => {
  it("guide is v_u + w (v_c - v_u), with a scalar or per-element weight", async () => {
    const g = new Graph("cfg");
    const vu = g.input("vu", "float32", [3]);
    const vc = g.input("vc", "float32", [3]);
    g.output(guide(vu, vc, 4.5), "fixed");
    g.output(guide(vu, vc, g.input("w", "float32", [3])), "varying");
    const out = await runGraph(g, {
      vu: hostTensor("float32", [3], Float32Array.from([1, -2, 0.5])),
      vc: hostTensor("float32", [3], Float32Array.from([3, -1, 0.5])),
      w: hostTensor("float32", [3], Float32Array.from([0, 1, 2])),
    });
    expect(Array.from(out.fixed!)).toEqual([10, 2.5, 0.5]);
    expect(Array.from(out.varying!)).toEqual([1, -1, 0.5]);
  });

  it("keeps the documented defaults and refuses noise levels out of range", () => {
    expect(sdeMethod()).toEqual({ kind: "sde", noiseLevel: 0.7 });
    expect(cpsMethod()).toEqual({ kind: "cps", noiseLevel: 0.8, logProb: "released" });
    expect(() => sdeMethod(-0.1)).toThrow(/sde.noiseLevel/);
    expect(() => cpsMethod(1.5)).toThrow("flow setting 'cps.noiseLevel': expected a noise level in [0, 1], found 1.5");
  });
});

describe("eulerStep with scalar sigmas", () => {
  it("broadcasts a scalar sigma over the batch", async () => {
    const g = new Graph("euler-scalar");
    g.output(eulerStep(g.input("x", "float32", [2, 2]), g.input("v", "float32", [2, 2]), g.scalar(0.5), g.scalar(0.25)), "next");
    const out = await runGraph(g, { x: hostTensor("float32", [2, 2], Float32Array.from([1, 2, 3, 4])), v: hostTensor("float32", [2, 2], Float32Array.from([4, 4, -4, 0])) });
    expect(Array.from(out.next!)).toEqual([0, 1, 4, 4]);
  });
});
