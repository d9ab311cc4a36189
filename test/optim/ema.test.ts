import { describe, expect, it } from "vitest";
import { Ema, emaDecay } from "../../src/optim/ema.ts";
import { OptimizerConfigError, ParameterShapeError } from "../../src/optim/errors.ts";
import { paramTensor } from "../../src/optim/param-set.ts";

describe("EMA", () => {
  it("decay schedule min((1 + k) / (10 + k), maxDecay)", () => {
    expect(emaDecay(0, 0.9)).toBeCloseTo(0.1, 12);
    expect(emaDecay(1, 0.9)).toBeCloseTo(2 / 11, 12);
    expect(emaDecay(7, 0.9)).toBeCloseTo(8 / 17, 12);
    expect(emaDecay(10, 0.9)).toBeCloseTo(0.55, 12);
    expect(emaDecay(80, 0.9)).toBeCloseTo(0.9, 12);
    expect(emaDecay(1000, 0.9)).toBe(0.9);
    expect(emaDecay(1000, 0.999)).toBeCloseTo(1001 / 1010, 12);
  });

  it("averages only when (k + 1) % every == 0, toward the current weights", () => {
    const w = paramTensor("w", [2], Float32Array.from([0, 10]));
    const ema = new Ema([w], { every: 8, maxDecay: 0.9 });
    w.data.set([1, 20]);
    const averaged = Array.from({ length: 16 }, (_, k) => ema.update([w], k + 1));
    expect(averaged.flatMap((done, k) => (done ? [k + 1] : []))).toEqual([7, 15]);
    // k = 7: rate 1 - 8/17 = 9/17; k = 15: rate 1 - 16/25 = 9/25.
    const afterFirst = [9 / 17, 10 + (9 / 17) * 10];
    const expected = afterFirst.map((e, i) => e + (9 / 25) * ([1, 20][i]! - e));
    expected.forEach((e, i) => expect(ema.weights[0]!.data[i]).toBeCloseTo(e, 5));
    expect(w.data).toEqual(Float32Array.from([1, 20]));
  });

  it("exports and imports its weights, and names a shape mismatch", () => {
    const w = paramTensor("w", [2], Float32Array.from([1, 2]));
    const ema = new Ema([w], { every: 1 });
    w.data.set([3, 4]);
    ema.update([w], 1);
    const restored = new Ema([paramTensor("w", [2])], { every: 1 });
    restored.importState(ema.exportState());
    expect(restored.weights).toEqual(ema.weights);
    expect(() => restored.importState([paramTensor("w", [3])])).toThrow(ParameterShapeError);
    expect(() => restored.importState([paramTensor("w", [3])])).toThrow('ema state import: tensor "w" has shape [3], expected [2]');
  });

  it("rejects an invalid interval", () => {
    expect(() => new Ema([], { every: 0 })).toThrow(OptimizerConfigError);
    expect(() => new Ema([], { every: 0 })).toThrow("ema.every = 0, expected an integer >= 1");
  });
});
