import { describe, expect, it } from "vitest";
import { OptimizerStateError } from "../../src/optim/errors.ts";
import { paramTensor } from "../../src/optim/param-set.ts";
import { sgd } from "../../src/optim/sgd.ts";

const close = (actual: Float32Array, expected: readonly number[]): void =>
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 6));

const grad = (values: readonly number[]) => [paramTensor("w", [values.length], Float32Array.from(values))];

describe("SGD", () => {
  it("plain step with L2 weight decay: p - lr * (g + wd * p)", () => {
    const w = paramTensor("w", [2], Float32Array.from([1, -2]));
    const optimizer = sgd([w], { lr: 0.1, weightDecay: 0.5 });
    optimizer.step(grad([0.5, 1]));
    close(w.data, [1 - 0.1 * (0.5 + 0.5), -2 - 0.1 * (1 - 1)]);
    expect(optimizer.exportState().slots).toEqual([]);
  });

  it("heavy-ball momentum, hand-computed over three steps", () => {
    const w = paramTensor("w", [2], Float32Array.from([1, -2]));
    const optimizer = sgd([w], { lr: 0.1, momentum: 0.9 });
    optimizer.step(grad([0.5, 1])); // b = [0.5, 1]
    close(w.data, [0.95, -2.1]);
    optimizer.step(grad([0.25, -1])); // b = [0.7, -0.1]
    close(w.data, [0.88, -2.09]);
    optimizer.step(grad([0, 0])); // b = [0.63, -0.09]
    close(w.data, [0.817, -2.081]);
    close(optimizer.exportState().slots[0]!.data, [0.63, -0.09]);
  });

  it("refuses state from another algorithm", () => {
    const optimizer = sgd([paramTensor("w", [2])], { lr: 0.1, momentum: 0.5 });
    expect(() => optimizer.importState({ algorithm: "adamw", step: 3, slots: [] })).toThrow(OptimizerStateError);
    expect(() => optimizer.importState({ algorithm: "adamw", step: 3, slots: [] })).toThrow(
      "optimizer state import: algorithm is adamw, expected sgd",
    );
  });
});
