import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { clippedSurrogate, klPenalty } from "../../src/rl/policy-loss.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { hostTensor } from "../../src/runtime/tensors.ts";
import { gradCheck } from "../autodiff/gradcheck.ts";

const f64 = (values: number[]) => hostTensor("float64", [values.length], Float64Array.from(values));

const surrogateValues = async (logp: number[], logpOld: number[], adv: number[], eps: number) => {
  const g = new Graph("surrogate");
  const [a, b, c] = ["logp", "logp_old", "adv"].map((n) => g.input(n, "float64", [logp.length]));
  const terms = clippedSurrogate(a!, b!, c!, eps);
  for (const [name, t] of Object.entries(terms)) g.output(t, name);
  const session = await LocalSession.create("surrogate", toOnnx(g));
  const out = await session.run({ logp: f64(logp), logp_old: f64(logpOld), adv: f64(adv) });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.data[0])]));
};

describe("clipped surrogate", () => {
  it("matches hand-computed values, clipping only where the objective would gain", async () => {
    const eps = 0.1;
    // ratios e^0.2 = 1.2214 (A=+1: clipped to 1.1), e^-0.2 = 0.8187 (A=+1: unclipped, min wins), e^0.2 (A=-2: unclipped)
    const out = await surrogateValues([0.2, -0.2, 0.2], [0, 0, 0], [1, 1, -2], eps);
    const r = [Math.exp(0.2), Math.exp(-0.2), Math.exp(0.2)];
    const expected = (Math.max(-r[0]!, -1.1) + Math.max(-r[1]!, -0.9) + Math.max(2 * r[2]!, 2 * 1.1)) / 3;
    expect(out.loss).toBeCloseTo(expected, 12);
    expect(out.ratioMax).toBeCloseTo(r[0]!, 12);
    expect(out.ratioMin).toBeCloseTo(r[1]!, 12);
    expect(out.clipFracHigh).toBeCloseTo(2 / 3, 12);
    expect(out.clipFracLow).toBeCloseTo(1 / 3, 12);
    expect(out.approxKl).toBeCloseTo(0.5 * (0.04 * 3) / 3, 12);
    const mean = (r[0]! + r[1]! + r[2]!) / 3;
    expect(out.ratioMean).toBeCloseTo(mean, 12);
    expect(out.ratioVariance).toBeCloseTo(r.reduce((s, x) => s + (x - mean) ** 2, 0) / 3, 12);
  });

  it("on-policy (logp == logp_old) gives ratio exactly 1, no clipping, zero KL, loss = -mean(A)", async () => {
    const out = await surrogateValues([-1.5, 0.3], [-1.5, 0.3], [0.5, -1.5], 1e-5);
    expect(out.ratioMin).toBe(1);
    expect(out.ratioMax).toBe(1);
    expect(out.clipFracHigh).toBe(0);
    expect(out.clipFracLow).toBe(0);
    expect(out.approxKl).toBe(0);
    expect(out.ratioVariance).toBe(0);
    expect(out.loss).toBeCloseTo(0.5, 15);
  });

  it("gradient w.r.t. the log-probs matches finite differences", async () => {
    const report = await gradCheck({
      inputs: { logp: { shape: [6] }, old: { shape: [6] }, adv: { shape: [6] } },
      wrt: ["logp"],
      build: (t) => clippedSurrogate(t.logp!, t.old!, t.adv!, 0.3).loss,
    });
    expect(report.checked).toBe(6);
  });

  it("KL penalty: per-sample mean squared mean difference over 2 variance, times beta", async () => {
    const report = await gradCheck({
      inputs: { mu: { shape: [2, 3] }, ref: { shape: [2, 3] }, variance: { shape: [2], positive: true } },
      wrt: ["mu"],
      build: (t) => klPenalty(t.mu!, t.ref!, t.variance!, 0.04),
    });
    expect(report.checked).toBe(6);
  });
});

describe("GRPO-Guard ratio normalisation", () => {
  const guarded = async (logp: number[], logpOld: number[], mu: number[], muOld: number[], variance: number[], stepSize: number[], adv: number[], eps: number) => {
    const g = new Graph("guard");
    const b = logp.length;
    const [lp, lpo, a, v, dt] = ["logp", "logp_old", "adv", "variance", "step"].map((n) => g.input(n, "float64", [b]));
    const [m, mo] = ["mu", "mu_old"].map((n) => g.input(n, "float64", [b, 2]));
    const terms = clippedSurrogate(lp!, lpo!, a!, eps, { mean: m!, oldMean: mo!, variance: v!, stepSize: dt! });
    for (const [name, t] of Object.entries(terms)) g.output(t, name);
    const session = await LocalSession.create("guard", toOnnx(g));
    const pair = (values: number[]) => hostTensor("float64", [b, 2], Float64Array.from(values));
    const out = await session.run({ logp: f64(logp), logp_old: f64(logpOld), adv: f64(adv), variance: f64(variance), step: f64(stepSize), mu: pair(mu), mu_old: pair(muOld) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.data[0])]));
  };

  it("log r' = (log r + mean(|mu - mu_old|^2) / (2 s^2)) * s; the surrogate is divided by the mean step size", async () => {
    // sample 0: log r = -0.3, |dmu|^2 mean = (0.01 + 0.04) / 2 = 0.025, s^2 = 0.04: bias 0.3125, s = 0.2
    // sample 1: log r = 0.1, dmu = 0, s^2 = 0.25: bias 0, s = 0.5
    const out = await guarded([-0.3, 0.1], [0, 0], [0.1, 0.2, 0, 0], [0, 0, 0, 0], [0.04, 0.25], [0.1, 0.1], [1, -1], 0.5);
    const r = [Math.exp((-0.3 + 0.3125) * 0.2), Math.exp(0.1 * 0.5)];
    expect(out.ratioMin).toBeCloseTo(r[0]!, 12);
    expect(out.ratioMax).toBeCloseTo(r[1]!, 12);
    expect(out.loss).toBeCloseTo((-r[0]! + r[1]!) / 2 / 0.1, 10);
    // approx_kl stays a diagnostic of the raw log-ratio.
    expect(out.approxKl).toBeCloseTo(0.5 * (0.09 + 0.01) / 2, 12);
  });

  it("on-policy (same log-probs and means) the normalised ratio is exactly 1", async () => {
    const out = await guarded([-1.5, 0.3], [-1.5, 0.3], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.04, 0.25], [0.2, 0.2], [1, -1], 1e-5);
    expect([out.ratioMin, out.ratioMax]).toEqual([1, 1]);
  });
});
