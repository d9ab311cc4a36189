import { type AdamConstants, AdamKernel } from "./kernels/adam-kernel.ts";
import { requireInRange, SlotOptimizer } from "./optimizer.ts";
import type { CommonOptimizerConfig, Optimizer, OptimizerAlgorithm } from "./optimizer.ts";
import type { ParamSet } from "./param-set.ts";

export interface AdamConfig extends CommonOptimizerConfig {
  /** Default (0.9, 0.999). */
  readonly betas?: readonly [number, number];
  /** Added to sqrt(v_hat); default 1e-8. */
  readonly eps?: number;
}

/**
 * "decoupled" (AdamW, Loshchilov & Hutter): p <- p * (1 - lr * wd) before the Adam step, so decay is independent of
 * the gradient scale. "l2" (classic Adam, torch.optim.Adam's weight_decay): wd * p is added to the gradient and then
 * divided by sqrt(v) like any gradient, which weakens decay on weights with large gradients.
 */
export type WeightDecayMode = "decoupled" | "l2";

/**
 * Adam with bias correction, the same arithmetic as torch.optim.Adam/AdamW:
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 * Buffers m and v are fp32 like the parameters; the arithmetic of each element is float64, in the SIMD kernel
 * of kernels/update.wat.
 */
class AdamOptimizer extends SlotOptimizer<AdamKernel> {
  readonly algorithm: OptimizerAlgorithm;
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #eps: number;
  readonly #weightDecay: number;
  readonly #mode: WeightDecayMode;

  constructor(params: ParamSet, config: AdamConfig, algorithm: OptimizerAlgorithm, mode: WeightDecayMode) {
    super(params, config, (sizes) => new AdamKernel(sizes));
    const [beta1, beta2] = config.betas ?? [0.9, 0.999];
    requireInRange("betas[0]", beta1, beta1 >= 0 && beta1 < 1, "a number in [0, 1)");
    requireInRange("betas[1]", beta2, beta2 >= 0 && beta2 < 1, "a number in [0, 1)");
    const eps = config.eps ?? 1e-8;
    requireInRange("eps", eps, eps >= 0 && Number.isFinite(eps), "a finite number >= 0");
    this.algorithm = algorithm;
    this.#beta1 = beta1;
    this.#beta2 = beta2;
    this.#eps = eps;
    this.#weightDecay = config.weightDecay ?? 0;
    this.#mode = mode;
  }

  protected update(grads: readonly Float32Array[], step: number): void {
    const lr = this.learningRate;
    const constants: AdamConstants = {
      // Exactly one of the two weight-decay forms is active; the other is the identity.
      l2: this.#mode === "l2" ? this.#weightDecay : 0,
      shrink: this.#mode === "decoupled" ? 1 - lr * this.#weightDecay : 1,
      b1: this.#beta1,
      b2: this.#beta2,
      stepSize: lr / (1 - this.#beta1 ** step),
      invSqrtBias2: 1 / Math.sqrt(1 - this.#beta2 ** step),
      eps: this.#eps,
    };
    this.slots.update(
      this.params.map((param) => param.data),
      grads,
      constants,
    );
  }
}

/** AdamW: decoupled weight decay (default 0.01, as torch.optim.AdamW). */
export const adamW = (params: ParamSet, config: AdamConfig): Optimizer =>
  new AdamOptimizer(params, { ...config, weightDecay: config.weightDecay ?? 0.01 }, "adamw", "decoupled");

/** Adam: weight decay (default 0) is classic L2 added to the gradient. With weight decay 0 it equals AdamW with 0. */
export const adam = (params: ParamSet, config: AdamConfig): Optimizer => new AdamOptimizer(params, config, "adam", "l2");
