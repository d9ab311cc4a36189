import { describe, expect, it } from "vitest";
import { adam, adamW } from "../../src/optim/adam.ts";
import { MissingParameterError, NonFiniteGradientError, OptimizerConfigError, ParameterShapeError } from "../../src/optim/errors.ts";
import { paramTensor } from "../../src/optim/param-set.ts";

interface Reference {
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly wd: number;
  readonly decoupled: boolean;
}

/** Textbook Adam/AdamW (Kingma & Ba, Loshchilov & Hutter) in float64, one element at a time. */
const referenceAdam = (start: readonly number[], grads: readonly (readonly number[])[], h: Reference): number[] => {
  const p = [...start];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      const gi = h.decoupled ? g[i]! : g[i]! + h.wd * p[i]!;
      if (h.decoupled) p[i] = p[i]! - h.lr * h.wd * p[i]!;
      m[i] = h.b1 * m[i]! + (1 - h.b1) * gi;
      v[i] = h.b2 * v[i]! + (1 - h.b2) * gi * gi;
      const mHat = m[i]! / (1 - h.b1 ** t);
      const vHat = v[i]! / (1 - h.b2 ** t);
      p[i] = p[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
  });
  return p;
};

const expectClose = (actual: Float32Array, expected: readonly number[]): void => {
  expect(actual.length).toBe(expected.length);
  // fp32 storage of p, m and v between steps: agreement to ~1e-6 relative is the most float32 can promise.
  expected.forEach((e, i) => expect(Math.abs(actual[i]! - e)).toBeLessThan(1e-6 * Math.max(1, Math.abs(e))));
};

const START = [0.5, -1.25, 2, 0];
const GRADS = [
  [0.1, -0.4, 3, -0.02],
  [-0.3, -0.1, 2.5, 0.05],
  [0.2, 0.6, -1, 0.01],
];

const run = (make: typeof adamW, config: Parameters<typeof adamW>[1]): Float32Array => {
  const w = paramTensor("w", [2, 2], Float32Array.from(START));
  const optimizer = make([w], config);
  for (const g of GRADS) optimizer.step([paramTensor("w", [2, 2], Float32Array.from(g))]);
  expect(optimizer.stepCount).toBe(GRADS.length);
  return w.data;
};

describe("AdamW", () => {
  it("matches the textbook formula over three steps", () => {
    const h = { lr: 0.05, b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1, decoupled: true };
    expectClose(run(adamW, { lr: h.lr, betas: [h.b1, h.b2], eps: h.eps, weightDecay: h.wd }), referenceAdam(START, GRADS, h));
  });

  it("moves every weight by lr at step 1 whatever the gradient's size (bias correction)", () => {
    const w = paramTensor("w", [3], Float32Array.from([1, 1, 1]));
    adamW([w], { lr: 0.01, weightDecay: 0, eps: 0 }).step([paramTensor("w", [3], Float32Array.from([1e-3, -5, 40]))]);
    expectClose(w.data, [0.99, 1.01, 0.99]);
  });

  it("decays weights independently of the gradient: a zero gradient only shrinks by lr * wd", () => {
    const w = paramTensor("w", [2], Float32Array.from([2, -4]));
    adamW([w], { lr: 0.1, weightDecay: 0.5 }).step([paramTensor("w", [2], new Float32Array(2))]);
    expectClose(w.data, [2 * 0.95, -4 * 0.95]);
  });

  it("defaults to torch's AdamW weight decay 0.01", () => {
    const h = { lr: 0.05, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, decoupled: true };
    expectClose(run(adamW, { lr: h.lr }), referenceAdam(START, GRADS, h));
  });
});

describe("Adam", () => {
  it("equals AdamW when weight decay is 0", () => {
    expect(run(adam, { lr: 0.05 })).toEqual(run(adamW, { lr: 0.05, weightDecay: 0 }));
  });

  it("applies weight decay as L2 on the gradient, matching the textbook formula", () => {
    const h = { lr: 0.05, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.2, decoupled: false };
    expectClose(run(adam, { lr: h.lr, betas: [h.b1, h.b2], weightDecay: h.wd }), referenceAdam(START, GRADS, h));
  });

  it("with L2 decay a zero gradient still takes a full normalised step toward 0", () => {
    const w = paramTensor("w", [2], Float32Array.from([2, -4]));
    adam([w], { lr: 0.1, weightDecay: 0.5, eps: 0 }).step([paramTensor("w", [2], new Float32Array(2))]);
    expectClose(w.data, [1.9, -3.9]);
  });
});

describe("optimizer contract", () => {
  const model = () => [paramTensor("base", [2], Float32Array.from([1, 2])), paramTensor("lora.a", [2], Float32Array.from([3, 4]))];

  it("trains only the named subset and ignores gradients of frozen weights", () => {
    const params = model();
    const optimizer = adamW(params, { lr: 0.1, weightDecay: 0, trainable: ["lora.a"] });
    optimizer.step([paramTensor("base", [2], Float32Array.from([1, 1])), paramTensor("lora.a", [2], Float32Array.from([1, -1]))]);
    expect(params[0]!.data).toEqual(Float32Array.from([1, 2]));
    expectClose(params[1]!.data, [2.9, 4.1]);
    expect(optimizer.params.map((p) => p.name)).toEqual(["lora.a"]);
  });

  it("names a trainable parameter that does not exist", () => {
    expect(() => adamW(model(), { lr: 0.1, trainable: ["lora.b"] })).toThrow(MissingParameterError);
    expect(() => adamW(model(), { lr: 0.1, trainable: ["lora.b"] })).toThrow(
      'optimizer trainable: no tensor named "lora.b" (available: base, lora.a)',
    );
  });

  it("names a missing or misshapen gradient and changes nothing", () => {
    const params = model();
    const optimizer = adamW(params, { lr: 0.1 });
    expect(() => optimizer.step([paramTensor("base", [2])])).toThrow(/optimizer step gradients: no tensor named "lora.a"/);
    expect(() => optimizer.step([paramTensor("base", [2]), paramTensor("lora.a", [1, 2])])).toThrow(ParameterShapeError);
    expect(() => optimizer.step([paramTensor("base", [2]), paramTensor("lora.a", [1, 2])])).toThrow(
      /tensor "lora.a" has shape \[1, 2\], expected \[2\]/,
    );
    expect(optimizer.stepCount).toBe(0);
    expect(params[0]!.data).toEqual(Float32Array.from([1, 2]));
  });

  it("refuses a NaN gradient before touching any weight", () => {
    const params = model();
    const optimizer = adamW(params, { lr: 0.1 });
    const grads = [paramTensor("base", [2], Float32Array.from([1, 1])), paramTensor("lora.a", [2], Float32Array.from([0, NaN]))];
    expect(() => optimizer.step(grads)).toThrow(NonFiniteGradientError);
    expect(() => optimizer.step(grads)).toThrow(/gradient of "lora.a" is NaN at flat index 1/);
    expect(params.map((p) => [...p.data])).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(optimizer.stepCount).toBe(0);
  });

  it("rejects out-of-range hyper-parameters with the field and value", () => {
    expect(() => adamW(model(), { lr: -1 })).toThrow(OptimizerConfigError);
    expect(() => adamW(model(), { lr: 0.1, betas: [0.9, 1] })).toThrow("optimizer config: betas[1] = 1, expected a number in [0, 1)");
    const optimizer = adamW(model(), { lr: 0.1 });
    expect(() => {
      optimizer.learningRate = Number.NaN;
    }).toThrow("optimizer config: lr = NaN, expected a finite number >= 0");
    optimizer.learningRate = 0.5;
    expect(optimizer.learningRate).toBe(0.5);
  });
});
