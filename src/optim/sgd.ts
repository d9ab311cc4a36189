import { requireInRange, SlotOptimizer } from "./optimizer.ts";
import { ArraySlots } from "./slot-store.ts";
import type { CommonOptimizerConfig, Optimizer } from "./optimizer.ts";
import type { ParamSet } from "./param-set.ts";

export interface SgdConfig extends CommonOptimizerConfig {
  /** Heavy-ball momentum in [0, 1); default 0 (plain SGD, no buffer kept). */
  readonly momentum?: number;
}

/** Plain SGD with L2 decay. Module-level loops keep every operand in a register (a closure re-reads its context). */
const plainStep = (p: Float32Array, g: Float32Array, lr: number, wd: number): void => {
  for (let i = 0; i < p.length; i++) p[i] -= lr * (g[i]! + wd * p[i]!);
};

const momentumStep = (p: Float32Array, g: Float32Array, b: Float32Array, lr: number, wd: number, mu: number): void => {
  for (let i = 0; i < p.length; i++) {
    const bi = mu * b[i]! + g[i]! + wd * p[i]!;
    b[i] = bi;
    p[i] -= lr * bi;
  }
};

/**
 * torch.optim.SGD without dampening or Nesterov: g <- g + wd * p (L2), b <- mu * b + g, p <- p - lr * b.
 * A zero-initialised buffer makes the first step b = g, as in torch.
 */
class SgdOptimizer extends SlotOptimizer<ArraySlots> {
  readonly algorithm = "sgd" as const;
  readonly #momentum: number;
  readonly #weightDecay: number;

  constructor(params: ParamSet, config: SgdConfig) {
    const momentum = config.momentum ?? 0;
    super(params, config, (sizes) => new ArraySlots(momentum > 0 ? ["momentum"] : [], sizes));
    requireInRange("momentum", momentum, momentum >= 0 && momentum < 1, "a number in [0, 1)");
    this.#momentum = momentum;
    this.#weightDecay = config.weightDecay ?? 0;
  }

  protected update(grads: readonly Float32Array[]): void {
    const buffers = this.slots.buffers.get("momentum");
    this.params.forEach((param, k) => {
      if (buffers === undefined) plainStep(param.data, grads[k]!, this.learningRate, this.#weightDecay);
      else momentumStep(param.data, grads[k]!, buffers[k]!, this.learningRate, this.#weightDecay, this.#momentum);
    });
  }
}

export const sgd = (params: ParamSet, config: SgdConfig): Optimizer => new SgdOptimizer(params, config);
