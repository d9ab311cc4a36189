import { describe, expect, it } from "vitest";
import { NonFiniteGradientError, OptimizerConfigError } from "../../src/optim/errors.ts";
import { assertFiniteGradients, clipGradNorm, gradNorm } from "../../src/optim/grad-norm.ts";
import { paramTensor } from "../../src/optim/param-set.ts";

const grads = () => [paramTensor("a", [2], Float32Array.from([3, 4])), paramTensor("b", [1, 1], Float32Array.from([12]))];

describe("gradient-norm clipping", () => {
  it("computes the global L2 norm over all tensors", () => {
    expect(gradNorm(grads())).toBe(13);
  });

  it("scales every gradient by maxNorm / (norm + 1e-6) and returns the pre-clip norm", () => {
    const g = grads();
    expect(clipGradNorm(g, 1)).toBe(13);
    const factor = 1 / (13 + 1e-6);
    expect([...g[0]!.data, ...g[1]!.data].map((x) => x / factor)).toEqual([3, 4, 12].map((x) => expect.closeTo(x, 4)));
    expect(gradNorm(g)).toBeCloseTo(1, 6);
  });

  it("leaves gradients below the threshold untouched", () => {
    const g = grads();
    expect(clipGradNorm(g, 20)).toBe(13);
    expect([...g[0]!.data, ...g[1]!.data]).toEqual([3, 4, 12]);
  });

  it("treats NaN and Infinity as errors naming the tensor and index, not as a NaN norm", () => {
    const g = grads();
    g[1] = paramTensor("blocks.3.mlp.w", [3], Float32Array.from([0, 1, Number.NaN]));
    expect(() => clipGradNorm(g, 1)).toThrow(NonFiniteGradientError);
    expect(() => clipGradNorm(g, 1)).toThrow(/gradient of "blocks.3.mlp.w" is NaN at flat index 2/);
    expect([...g[0]!.data]).toEqual([3, 4]);
    const inf = [paramTensor("x", [2], Float32Array.from([-Infinity, 0]))];
    expect(() => assertFiniteGradients(inf)).toThrow(/gradient of "x" is -Infinity at flat index 0/);
    expect(() => assertFiniteGradients(grads())).not.toThrow();
  });

  it("rejects a non-positive maxNorm", () => {
    expect(() => clipGradNorm(grads(), 0)).toThrow(OptimizerConfigError);
    expect(() => clipGradNorm(grads(), 0)).toThrow("maxGradNorm = 0, expected a positive number");
  });
});
