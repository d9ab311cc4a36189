/**
 * The Advantage Weighted Matching objective (Xue et al., arXiv 2509.25050; scxue/advantage_weighted_matching
 * train_sd3_awm.py): the pretraining flow-matching loss on the clean rollout sample, weighted by its advantage.
 *
 *   l = mean((v_theta(x_t, t) - (eps - x0))^2)                      per sample
 *   w = l                                        (uniform)
 *     = t / p ((l + 1e-10)^p - 1e-10^p)          (ghuber, the paper's default, p = 0.25)
 *   L = mean(A / C * w)                                             C = learner.advantageClip
 *
 * The released code writes this as the PPO surrogate -A exp(log p - log p_old) with log p = -w and its clip
 * switched off (clip_range 1, "currently not work"); on-policy that has exactly this gradient. Its advantages
 * are clamped to +-C and rescaled to +-1 (advantage_max 1), hence A / C.
 */
import type { Tensor } from "../graph/graph.ts";
import { add, meanAll, mul, pow, square, sub } from "../graph/ops.ts";
import type { ModelBuilder } from "../train/train-graph.ts";
import { forwardInputs, perSampleMean, velocityAt, withReferenceKl } from "./forward-process.ts";
import type { PolicyConfig } from "./policy-graph.ts";

type AwmWeighting = "uniform" | "ghuber";

export interface AwmOptions {
  readonly weighting: AwmWeighting;
  readonly ghuberPower: number;
  readonly advantageClip: number;
}

interface AwmInputs {
  readonly velocity: Tensor;
  readonly clean: Tensor;
  readonly noise: Tensor;
  readonly t: Tensor;
  readonly advantages: Tensor;
}

const GHUBER_EPSILON = 1e-10;

export const awmLoss = (inputs: AwmInputs, options: AwmOptions) => {
  const matching = perSampleMean(square(sub(inputs.velocity, sub(inputs.noise, inputs.clean))));
  const p = options.ghuberPower;
  const weighted = options.weighting === "uniform" ? matching : mul(mul(sub(pow(add(matching, GHUBER_EPSILON), p), GHUBER_EPSILON ** p), inputs.t), 1 / p);
  return {
    loss: meanAll(mul(mul(inputs.advantages, 1 / options.advantageClip), weighted)),
    matchingLoss: meanAll(matching),
  };
};

interface AwmGraphConfig extends PolicyConfig, AwmOptions {
  readonly klBeta: number;
}

export const awmLossModel = (config: AwmGraphConfig): ModelBuilder => (scope, graph) => {
  const inputs = forwardInputs(graph, config);
  const velocity = velocityAt(scope, inputs, config);
  const terms = awmLoss({ velocity, clean: inputs.clean, noise: inputs.noise, t: inputs.t, advantages: inputs.advantages }, config);
  return withReferenceKl(terms, scope, inputs, velocity, config, config.klBeta);
};
