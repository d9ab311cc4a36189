/** Tiny generator configurations and feeds shared by the generator tests. */
import type { DiTConfig } from "../../src/models/generator/dit.ts";
import { initParams, type ParamSpec } from "../../src/nn/params.ts";
import type { ParamSet } from "../../src/optim/param-set.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import type { ModelBuilder } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

export const tinyConfig: DiTConfig = { channels: 3, size: 8, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 };

/** Normal feeds of a shape, from a seed. */
export const randomF32 = (shape: readonly number[], seed: number, scale = 1) => {
  const rng = makeRng(seed);
  return f32(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * scale));
};

/**
 * The adaLN-Zero gates and the output layer start at zero, which makes every upstream gradient exactly zero and a
 * gradient check vacuous. This re-declares every parameter with a small random init after the graph is built.
 */
export const withRandomInit = (build: ModelBuilder, std = 0.3): ModelBuilder => (scope, graph) => {
  const outputs = build(scope, graph);
  const specs = scope.specs as ParamSpec[];
  specs.splice(0, specs.length, ...specs.map((s) => ({ ...s, init: { kind: "normal", std } as const })));
  return outputs;
};

/** Random (non-zero) weights for every parameter of the specs. */
export const randomParams = (specs: readonly ParamSpec[], seed: number): ParamSet =>
  initParams(specs.map((s) => ({ ...s, init: { kind: "normal", std: 0.3 } as const })), seed);
