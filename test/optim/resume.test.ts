import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, fromParamSet, toParamSet } from "../../src/io/safetensors.ts";
import { adam, adamW } from "../../src/optim/adam.ts";
import { OptimizerStateError, ParameterShapeError } from "../../src/optim/errors.ts";
import type { Optimizer, OptimizerState } from "../../src/optim/optimizer.ts";
import { cloneParams, paramTensor } from "../../src/optim/param-set.ts";
import type { ParamSet } from "../../src/optim/param-set.ts";
import { sgd } from "../../src/optim/sgd.ts";

const initial = (): ParamSet => [
  paramTensor("enc.w", [2, 2], Float32Array.from([0.5, -0.25, 1, 2])),
  paramTensor("enc.b", [2], Float32Array.from([0.1, -0.1])),
  paramTensor("frozen", [1], Float32Array.from([7])),
];

/** Deterministic gradients that depend on the current weights, so a wrong resume shows up as drift. */
const gradsAt = (params: ParamSet, step: number): ParamSet =>
  params.map((p) => paramTensor(p.name, p.shape, p.data.map((x, i) => Math.sin(3 * x + step + i) + 0.1 * x)));

type Make = (params: ParamSet) => Optimizer;

const makers: Record<string, Make> = {
  adamW: (params) => adamW(params, { lr: 0.03, betas: [0.8, 0.9], weightDecay: 0.1, trainable: ["enc.w", "enc.b"] }),
  adam: (params) => adam(params, { lr: 0.03, weightDecay: 0.05 }),
  sgd: (params) => sgd(params, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }),
};

const train = (optimizer: Optimizer, params: ParamSet, from: number, to: number): void => {
  for (let step = from; step < to; step++) optimizer.step(gradsAt(params, step));
};

/** A checkpoint as the pipeline will write it: weights, optimiser slots under a prefix, the step in metadata. */
const checkpointBytes = (params: ParamSet, state: OptimizerState): Uint8Array =>
  encodeSafetensors({
    tensors: [...fromParamSet(params), ...fromParamSet(state.slots.map((s) => ({ ...s, name: `optimizer/${s.name}` })))],
    metadata: { "optimizer.algorithm": state.algorithm, "optimizer.step": String(state.step) },
  });

const restore = (bytes: Uint8Array): { params: ParamSet; state: OptimizerState } => {
  const contents = decodeSafetensors(bytes, "ckpt.safetensors");
  const tensors = toParamSet(contents, "ckpt.safetensors");
  return {
    params: tensors.filter((t) => !t.name.startsWith("optimizer/")),
    state: {
      algorithm: contents.metadata["optimizer.algorithm"] as OptimizerState["algorithm"],
      step: Number(contents.metadata["optimizer.step"]),
      slots: tensors.filter((t) => t.name.startsWith("optimizer/")).map((t) => ({ ...t, name: t.name.slice("optimizer/".length) })),
    },
  };
};

describe.each(Object.entries(makers))("%s resume", (_, make) => {
  it("export -> import -> continue equals an uninterrupted run, bit for bit", () => {
    const straight = cloneParams(initial());
    train(make(straight), straight, 0, 6);

    const first = cloneParams(initial());
    const before = make(first);
    train(before, first, 0, 3);
    const resumedParams = cloneParams(first);
    const after = make(resumedParams);
    after.importState(before.exportState());
    expect(after.stepCount).toBe(3);
    train(after, resumedParams, 3, 6);

    expect(resumedParams).toEqual(straight);
  });

  it("survives a safetensors checkpoint round trip", () => {
    const straight = cloneParams(initial());
    train(make(straight), straight, 0, 5);

    const live = cloneParams(initial());
    const optimizer = make(live);
    train(optimizer, live, 0, 2);
    const { params, state } = restore(checkpointBytes(live, optimizer.exportState()));
    const resumed = make(params);
    resumed.importState(state);
    train(resumed, params, 2, 5);

    expect(params).toEqual(straight);
  });
});

describe("optimizer state import errors", () => {
  const exported = (): OptimizerState => {
    const params = initial();
    const optimizer = makers.adamW!(params);
    train(optimizer, params, 0, 1);
    return optimizer.exportState();
  };

  it("names slots by slot and parameter", () => {
    expect(exported().slots.map((s) => s.name)).toEqual(["m/enc.w", "m/enc.b", "v/enc.w", "v/enc.b"]);
  });

  it("names a missing slot and leaves the optimiser unchanged", () => {
    const state = exported();
    const optimizer = makers.adamW!(initial());
    const partial = { ...state, slots: state.slots.filter((s) => s.name !== "v/enc.b") };
    expect(() => optimizer.importState(partial)).toThrow('optimizer state import: no tensor named "v/enc.b"');
    expect(optimizer.stepCount).toBe(0);
    expect(optimizer.exportState().slots.every((s) => s.data.every((x) => x === 0))).toBe(true);
  });

  it("names an unexpected slot, a misshapen slot and a bad step", () => {
    const state = exported();
    const optimizer = makers.adamW!(initial());
    const extra = { ...state, slots: [...state.slots, paramTensor("m/frozen", [1])] };
    expect(() => optimizer.importState(extra)).toThrow(OptimizerStateError);
    expect(() => optimizer.importState(extra)).toThrow(/slot names is unexpected m\/frozen, expected only <m\|v>\/<name> for the 2 trained/);
    const misshapen = { ...state, slots: state.slots.map((s) => (s.name === "m/enc.b" ? paramTensor(s.name, [3]) : s)) };
    expect(() => optimizer.importState(misshapen)).toThrow(ParameterShapeError);
    expect(() => optimizer.importState(misshapen)).toThrow('tensor "m/enc.b" has shape [3], expected [2]');
    expect(() => optimizer.importState({ ...state, step: 1.5 })).toThrow("step is 1.5, expected an integer >= 0");
  });
});
