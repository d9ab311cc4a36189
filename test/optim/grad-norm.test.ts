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

  it("finds a single NaN or Infinity anywhere: in a tail of fewer than 4 values, across chunks, among finite extremes", () => {
    // Extremes that are finite: largest float32, smallest subnormal, zeros of both signs.
    const finite = (n: number) => Float32Array.from({ length: n }, (_, i) => [3.4028235e38, -3.4028235e38, 1e-45, -0, 0, 1][i % 6]!);
    for (const n of [1, 3, 4, 5, 8191, 8192, 8193, 20001]) {
      expect(() => assertFiniteGradients([paramTensor("ok", [n], finite(n))])).not.toThrow();
      for (const at of new Set([0, n - 1, Math.floor(n / 2), Math.min(8192, n - 1)])) {
        for (const bad of [Number.NaN, Infinity, -Infinity]) {
          const data = finite(n);
          data[at] = bad;
          expect(() => assertFiniteGradients([paramTensor("ok", [3], Float32Array.from([1, 2, 3])), paramTensor("w", [n], data)])).toThrow(
            `gradient of "w" is ${bad} at flat index ${at}`,
          );
        }
      }
    }
  });

  it("rejects a non-positive maxNorm", () => {
    expect(() => clipGradNorm(grads(), 0)).toThrow(OptimizerConfigError);
    expect(() => clipGradNorm(grads(), 0)).toThrow("maxGradNorm = 0, expected a positive number");
  });
});
