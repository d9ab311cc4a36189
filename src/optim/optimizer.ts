import { OptimizerConfigError, OptimizerStateError } from "./errors.ts";
import { assertFiniteGradients } from "./grad-norm.ts";
import { getMatching, indexByName, paramTensor, paramSet, selectParams } from "./param-set.ts";
import type { ParamSet } from "./param-set.ts";
import type { SlotStore } from "./slot-store.ts";

export type OptimizerAlgorithm = "adamw" | "adam" | "sgd";

/** Everything needed to resume an optimiser exactly: its step counter and one buffer per slot and parameter. */
export interface OptimizerState {
  readonly algorithm: OptimizerAlgorithm;
  /** Optimiser steps taken so far (drives Adam's bias correction). */
  readonly step: number;
  /** Buffers named `<slot>/<parameter>`, e.g. `m/blocks.0.qkv.weight`; slots are m, v (Adam) or momentum (SGD). */
  readonly slots: ParamSet;
}

/** Updates its parameters' Float32Arrays in place from same-named gradients. */
export interface Optimizer {
  readonly algorithm: OptimizerAlgorithm;
  /** The parameters it updates: all it was given, or the `trainable` subset. */
  readonly params: ParamSet;
  readonly stepCount: number;
  /** Settable between steps so a schedule can drive it. */
  learningRate: number;
  /**
   * One update. `grads` must hold a tensor of the same name and shape for every trained parameter (extra ones, e.g.
   * gradients of frozen weights, are ignored). A NaN or Infinity anywhere throws before any weight changes.
   */
  step(grads: ParamSet): void;
  exportState(): OptimizerState;
  /** Replaces step counter and buffers by copies of `state`'s; throws without changing anything if it does not fit. */
  importState(state: OptimizerState): void;
}

export interface CommonOptimizerConfig {
  readonly lr: number;
  readonly weightDecay?: number;
  /** Names of the parameters to train, e.g. only adapter weights; default all. */
  readonly trainable?: readonly string[];
}

export const requireInRange = (field: string, value: number, ok: boolean, expected: string): void => {
  if (!ok) throw new OptimizerConfigError({ field, value, expected });
};

const requireLearningRate = (value: number): number => {
  requireInRange("lr", value, value >= 0 && Number.isFinite(value), "a finite number >= 0");
  return value;
};

const slotName = (slot: string, param: string): string => `${slot}/${param}`;

/**
 * The bookkeeping every in-place optimiser shares: trained subset, step counter, per-parameter slot buffers,
 * gradient matching and state export/import. Subclasses only write `update` and say where their slots live.
 */
export abstract class SlotOptimizer<Slots extends SlotStore> implements Optimizer {
  abstract readonly algorithm: OptimizerAlgorithm;
  readonly params: ParamSet;
  protected readonly slots: Slots;
  #step = 0;
  #learningRate: number;

  /** `makeSlots` receives the element count of each trained parameter, in order. */
  constructor(params: ParamSet, config: CommonOptimizerConfig, makeSlots: (sizes: readonly number[]) => Slots) {
    this.params = config.trainable === undefined ? paramSet(params) : selectParams(params, config.trainable, "optimizer trainable");
    this.#learningRate = requireLearningRate(config.lr);
    const weightDecay = config.weightDecay ?? 0;
    requireInRange("weightDecay", weightDecay, weightDecay >= 0 && Number.isFinite(weightDecay), "a finite number >= 0");
    this.slots = makeSlots(this.params.map((p) => p.data.length));
  }

  get stepCount(): number {
    return this.#step;
  }

  get learningRate(): number {
    return this.#learningRate;
  }

  set learningRate(value: number) {
    this.#learningRate = requireLearningRate(value);
  }

  /** Applies one update to params[i].data from grads[i]; `step` is the 1-based number of this step. */
  protected abstract update(grads: readonly Float32Array[], step: number): void;

  step(grads: ParamSet): void {
    const index = indexByName(grads);
    const matched = this.params.map((p) => getMatching(index, p, "optimizer step gradients"));
    assertFiniteGradients(matched);
    this.#step += 1;
    this.update(
      matched.map((g) => g.data),
      this.#step,
    );
  }

  exportState(): OptimizerState {
    const slots = this.slots.names.flatMap((slot) => this.params.map((p, i) => paramTensor(slotName(slot, p.name), p.shape, this.slots.read(slot, i))));
    return { algorithm: this.algorithm, step: this.#step, slots };
  }

  importState(state: OptimizerState): void {
    if (state.algorithm !== this.algorithm) {
      throw new OptimizerStateError({ field: "algorithm", expected: this.algorithm, found: state.algorithm });
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new OptimizerStateError({ field: "step", expected: "an integer >= 0", found: String(state.step) });
    }
    const expectedNames = new Set(this.slots.names.flatMap((slot) => this.params.map((p) => slotName(slot, p.name))));
    const unexpected = state.slots.map((s) => s.name).filter((name) => !expectedNames.has(name));
    if (unexpected.length > 0) {
      throw new OptimizerStateError({
        field: "slot names",
        expected: `only <${this.slots.names.join("|")}>/<name> for the ${this.params.length} trained parameters`,
        found: `unexpected ${unexpected.join(", ")}`,
      });
    }
    const index = indexByName(state.slots);
    const sources = this.slots.names.map((slot) => ({
      slot,
      data: this.params.map((p) => getMatching(index, { name: slotName(slot, p.name), shape: p.shape }, "optimizer state import").data),
    }));
    for (const { slot, data } of sources) data.forEach((values, i) => this.slots.write(slot, i, values));
    this.#step = state.step;
  }
}
