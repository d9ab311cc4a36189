import { requireInRange } from "./optimizer.ts";
import { cloneParams, copyParamsInto, getMatching, indexByName, paramSet } from "./param-set.ts";
import type { ParamSet } from "./param-set.ts";

export interface EmaConfig {
  /** Upper bound of the decay; default 0.9 (docs/algorithm.md §6). */
  readonly maxDecay?: number;
  /** Average on every `every`-th optimiser step; default 8. */
  readonly every?: number;
}

/** Decay used at optimiser step k: short warm-up from 0.1 toward `maxDecay`, so early weights are forgotten quickly. */
export const emaDecay = (optimizerStep: number, maxDecay: number): number =>
  Math.min((1 + optimizerStep) / (10 + optimizerStep), maxDecay);

/**
 * Exponential moving average of a set of weights, with the schedule and timing of the Flow-GRPO reference
 * (EMAModuleWrapper): after the optimiser has taken k steps, when (k + 1) % every == 0,
 *   ema <- ema + (1 - emaDecay(k)) * (param - ema).
 * The shadow weights start as a copy of the tracked parameters.
 */
export class Ema {
  readonly #weights: ParamSet;
  readonly #maxDecay: number;
  readonly #every: number;

  constructor(params: ParamSet, config: EmaConfig = {}) {
    this.#maxDecay = config.maxDecay ?? 0.9;
    this.#every = config.every ?? 8;
    requireInRange("ema.maxDecay", this.#maxDecay, this.#maxDecay >= 0 && this.#maxDecay <= 1, "a number in [0, 1]");
    requireInRange("ema.every", this.#every, Number.isInteger(this.#every) && this.#every >= 1, "an integer >= 1");
    this.#weights = cloneParams(paramSet(params));
  }

  /** The averaged weights (live buffers: evaluate or export with them, do not write to them). */
  get weights(): ParamSet {
    return this.#weights;
  }

  /**
   * Call once after each optimiser step with the optimiser's step count. `params` may be the whole model; only
   * the tracked names are read. Returns whether this step averaged.
   */
  update(params: ParamSet, optimizerStep: number): boolean {
    if ((optimizerStep + 1) % this.#every !== 0) return false;
    const index = indexByName(params);
    const sources = this.#weights.map((shadow) => getMatching(index, shadow, "ema update").data);
    const rate = 1 - emaDecay(optimizerStep, this.#maxDecay);
    this.#weights.forEach((shadow, k) => {
      const e = shadow.data;
      const p = sources[k];
      for (let i = 0; i < e.length; i++) e[i] += rate * (p[i] - e[i]);
    });
    return true;
  }

  /** A copy of the averaged weights, named like the tracked parameters. */
  exportState(): ParamSet {
    return cloneParams(this.#weights);
  }

  importState(weights: ParamSet): void {
    copyParamsInto(this.#weights, weights, "ema state import");
  }
}
