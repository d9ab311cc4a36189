/** DiffusionNFT and AWM losses against hand-computed values and gradients on tiny tensors. */
import { describe, expect, it } from "vitest";
import { gradients } from "../../src/autodiff/gradients.ts";
import { Graph, type Tensor } from "../../src/graph/graph.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { awmLoss, type AwmOptions } from "../../src/rl/awm-loss.ts";
import { forwardNoised, velocityKl } from "../../src/rl/forward-process.ts";
import { nftLoss } from "../../src/rl/nft-loss.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { hostTensor } from "../../src/runtime/tensors.ts";
import { gradCheck } from "../autodiff/gradcheck.ts";

/** Two samples of two elements each, [B=2, 1, 1, 2]. */
const shape = [2, 1, 1, 2];
const v = [0.3, -0.5, 1.2, 0.1];
const vOld = [0.1, -0.2, 0.8, 0.4];
const clean = [0.5, -0.25, -0.75, 1];
const noise = [-1, 0.5, 0.25, -0.5];
const t = [0.25, 0.75];
const advantages = [2.5, -5];

const run = async (build: (x: Record<string, Tensor>) => Record<string, Tensor>, wrt: string) => {
  const g = new Graph("objective");
  const input = (name: string, dims: number[]) => g.input(name, "float64", dims);
  const x = { v: input("v", shape), vOld: input("vOld", shape), clean: input("clean", shape), noise: input("noise", shape), t: input("t", [2]), advantages: input("advantages", [2]) };
  const outputs = build(x);
  for (const [name, tensor] of Object.entries(outputs)) g.output(tensor, name);
  g.output(gradients(outputs.loss!, [x[wrt as keyof typeof x]])[0]!, "grad");
  const feed = (values: number[], dims: number[]) => hostTensor("float64", dims, Float64Array.from(values));
  const session = await LocalSession.create("objective", toOnnx(g));
  const out = await session.run({ v: feed(v, shape), vOld: feed(vOld, shape), clean: feed(clean, shape), noise: feed(noise, shape), t: feed(t, [2]), advantages: feed(advantages, [2]) });
  return Object.fromEntries(Object.entries(out).map(([k, h]) => [k, Array.from(h.data as Float64Array)]));
};

const sample = (values: readonly number[], i: number) => values.slice(2 * i, 2 * i + 2);
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const noised = (i: number) => sample(clean, i).map((c, k) => (1 - t[i]!) * c + t[i]! * sample(noise, i)[k]!);

/** The released NFT loss written out by hand; `weights` freezes the adaptive weights (the stop-gradient). */
const nftByHand = (velocity: readonly number[], beta: number, C: number, weights?: number[][]) => {
  const terms = [0, 1].map((i) => {
    const r = Math.min(1, Math.max(0, advantages[i]! / (2 * C) + 0.5));
    const part = (implicit: number[], which: number) => {
      const error = implicit.map((u, k) => noised(i)[k]! - t[i]! * u - sample(clean, i)[k]!);
      const weight = weights?.[i]![which] ?? Math.max(mean(error.map(Math.abs)), 1e-5);
      return { loss: mean(error.map((e) => e * e)) / weight, weight };
    };
    const positive = part(sample(velocity, i).map((u, k) => beta * u + (1 - beta) * sample(vOld, i)[k]!), 0);
    const negative = part(sample(velocity, i).map((u, k) => (1 + beta) * sample(vOld, i)[k]! - beta * u), 1);
    return { value: r * positive.loss + (1 - r) * negative.loss, positive: positive.loss, negative: negative.loss, weights: [positive.weight, negative.weight] };
  });
  return { loss: (C / beta) * mean(terms.map((x) => x.value)), positive: mean(terms.map((x) => x.positive)), negative: mean(terms.map((x) => x.negative)), weights: terms.map((x) => x.weights) };
};

describe("DiffusionNFT loss", () => {
  for (const beta of [1, 0.1]) {
    it(`beta ${beta}: value and gradient (adaptive weights held fixed) match the hand computation`, async () => {
      const C = 5;
      const out = await run((x) => nftLoss({ velocity: x.v!, oldVelocity: x.vOld!, noised: forwardNoised(x.clean!, x.noise!, x.t!), clean: x.clean!, t: x.t!, advantages: x.advantages! }, { beta, advantageClip: C }), "v");
      const expected = nftByHand(v, beta, C);
      expect(out.loss![0]).toBeCloseTo(expected.loss, 12);
      expect(out.positiveLoss![0]).toBeCloseTo(expected.positive, 12);
      expect(out.negativeLoss![0]).toBeCloseTo(expected.negative, 12);
      expect(out.oldDeviation![0]).toBeCloseTo(mean(v.map((u, k) => (u - vOld[k]!) ** 2)), 12);
      // Central differences of the hand-written loss with the weights frozen at their values: the stop-gradient.
      const h = 1e-6;
      v.forEach((_, k) => {
        const shifted = (d: number) => nftByHand(v.map((u, j) => (j === k ? u + d : u)), beta, C, expected.weights).loss;
        expect(out.grad![k]).toBeCloseTo((shifted(h) - shifted(-h)) / (2 * h), 6);
      });
    });
  }

  it("A = +C trains the positive policy alone, A = -C the negative one (r = 1 and r = 0)", async () => {
    const out = await run((x) => nftLoss({ velocity: x.v!, oldVelocity: x.vOld!, noised: forwardNoised(x.clean!, x.noise!, x.t!), clean: x.clean!, t: x.t!, advantages: x.advantages! }, { beta: 1, advantageClip: 2.5 }), "v");
    // advantages 2.5 and -5 with C = 2.5: r = 1 for sample 0, r = 0 (clamped) for sample 1.
    const byHand = nftByHand(v, 1, 2.5);
    expect(out.loss![0]).toBeCloseTo(byHand.loss, 12);
    const positive0 = mean(sample(v, 0).map((u, k) => (noised(0)[k]! - t[0]! * u - sample(clean, 0)[k]!) ** 2)) / mean(sample(v, 0).map((u, k) => Math.abs(noised(0)[k]! - t[0]! * u - sample(clean, 0)[k]!)));
    const negative1 = ((): number => {
      const e = sample(v, 1).map((u, k) => noised(1)[k]! - t[1]! * (2 * sample(vOld, 1)[k]! - u) - sample(clean, 1)[k]!);
      return mean(e.map((x) => x * x)) / mean(e.map(Math.abs));
    })();
    expect(out.loss![0]).toBeCloseTo((2.5 / 1) * mean([positive0, negative1]), 12);
  });
});

describe("AWM loss", () => {
  const options = (weighting: AwmOptions["weighting"]): AwmOptions => ({ weighting, ghuberPower: 0.25, advantageClip: 5 });
  const matching = (i: number) => mean(sample(v, i).map((u, k) => (u - (sample(noise, i)[k]! - sample(clean, i)[k]!)) ** 2));

  it("uniform: mean(A / C * mean((v - (eps - x0))^2))", async () => {
    const out = await run((x) => awmLoss({ velocity: x.v!, clean: x.clean!, noise: x.noise!, t: x.t!, advantages: x.advantages! }, options("uniform")), "v");
    expect(out.loss![0]).toBeCloseTo(mean([0, 1].map((i) => (advantages[i]! / 5) * matching(i))), 12);
    expect(out.matchingLoss![0]).toBeCloseTo(mean([matching(0), matching(1)]), 12);
  });

  it("ghuber: t / p ((l + 1e-10)^p - 1e-10^p), p = 0.25", async () => {
    const out = await run((x) => awmLoss({ velocity: x.v!, clean: x.clean!, noise: x.noise!, t: x.t!, advantages: x.advantages! }, options("ghuber")), "v");
    const w = (i: number) => (t[i]! / 0.25) * ((matching(i) + 1e-10) ** 0.25 - 1e-10 ** 0.25);
    expect(out.loss![0]).toBeCloseTo(mean([0, 1].map((i) => (advantages[i]! / 5) * w(i))), 12);
  });

  for (const weighting of ["uniform", "ghuber"] as const) {
    it(`${weighting}: gradient w.r.t. the velocity matches finite differences`, async () => {
      const report = await gradCheck({
        inputs: { v: { shape }, clean: { shape }, noise: { shape }, t: { shape: [2], values: [0.3, 0.8] }, a: { shape: [2], values: [1.5, -2] } },
        wrt: ["v"],
        build: (x) => awmLoss({ velocity: x.v!, clean: x.clean!, noise: x.noise!, t: x.t!, advantages: x.a! }, options(weighting)).loss,
      });
      expect(report.checked).toBe(4);
    });
  }
});

describe("velocity KL to the initial policy", () => {
  it("beta * mean over samples of mean((v - v_ref)^2), with its gradient", async () => {
    const out = await run((x) => ({ loss: velocityKl(x.v!, x.vOld!, 0.01) }), "v");
    expect(out.loss![0]).toBeCloseTo(0.01 * mean(v.map((u, k) => (u - vOld[k]!) ** 2)), 14);
    expect(out.grad).toEqual(v.map((u, k) => expect.closeTo((0.01 * 2 * (u - vOld[k]!)) / 4, 14)));
  });
});
