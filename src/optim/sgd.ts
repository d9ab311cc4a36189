import { requireInRange, SlotOptimizer } from "./optimizer.ts";
import type { CommonOptimizerConfig, Optimizer } from "./optimizer.ts";
import type { ParamSet } from "./param-set.ts";

export interface SgdConfig extends CommonOptimizerConfig {
  /** Heavy-ball momentum in [0, 1); default 0 (plain SGD, no buffer kept). */
  readonly momentum?: number;
}

/**
 * torch.optim.SGD without dampening or Nesterov: g <- g + wd * p (L2), b <- mu * b + g, p <- p - lr * b.
 * A zero-initialised buffer makes the first step b = g, as in torch.
 */
class SgdOptimizer extends SlotOptimizer {
  readonly algorithm = "sgd" as const;
  readonly #momentum: number;
  readonly #weightDecay: number;

  constructor(params: ParamSet, config: SgdConfig) {
    const momentum = config.momentum ?? 0;
    super(params, config, momentum > 0 ? ["momentum"] : []);
    requireInRange("momentum", momentum, momentum >= 0 && momentum < 1, "a number in [0, 1)");
    this.#momentum = momentum;
    this.#weightDecay = config.weightDecay ?? 0;
  }

  protected update(grads: readonly Float32Array[]): void {
    const lr = this.learningRate;
    const wd = this.#weightDecay;
    const mu = this.#momentum;
    const buffers = this.slots.get("momentum");
    this.params.forEach((param, k) => {
      const p = param.data;
      const g = grads[k];
      if (buffers === undefined) {
        for (let i = 0; i < p.length; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
      }
      const b = buffers[k];
      for (let i = 0; i < p.length; i++) {
        const bi = mu * b[i] + g[i] + wd * p[i];
        b[i] = bi;
        p[i] -= lr * bi;
      }
    });
  }
}

export const sgd = (params: ParamSet, config: SgdConfig): Optimizer => new SgdOptimizer(params, config);
