/**
 * The DiffusionNFT objective (Zheng et al. 2025, arXiv 2509.16117; NVlabs/DiffusionNFT train_nft_sd3.py):
 * no log-probabilities, only clean rollout samples x0, their advantages and the forward process.
 *
 *   r   = clamp(A / (2 C) + 1/2, 0, 1)                       optimality probability, C = learner.advantageClip
 *   v+  = beta v_theta + (1 - beta) v_old                      implicit positive policy
 *   v-  = (1 + beta) v_old - beta v_theta                      implicit negative policy
 *   e+- = x_t - t v+- - x0                                     x0-prediction errors
 *   l+- = mean(e+-^2) / sg(max(mean|e+-|, 1e-5))               per-sample, adaptively normalised
 *   L   = C / beta * mean(r l+ + (1 - r) l-)
 *
 * v_old is the policy that sampled the rollouts (the `old` weights, fed by the learner); sg = stop gradient.
 * The C / beta factor is the released code's: it keeps the gradient scale independent of beta and C.
 */
import { stopGradient } from "../autodiff/stop-gradient.ts";
import type { Tensor } from "../graph/graph.ts";
import { abs, add, clip, div, maximum, meanAll, mul, square, sub } from "../graph/ops.ts";
import type { ModelBuilder } from "../train/train-graph.ts";
import { broadcastTime, forwardInputs, perSampleMean, velocityAt, withReferenceKl } from "./forward-process.ts";
import { OLD_SCOPE, type PolicyConfig } from "./policy-graph.ts";

interface NftInputs {
  readonly velocity: Tensor;
  readonly oldVelocity: Tensor;
  readonly noised: Tensor;
  readonly clean: Tensor;
  /** Training time t [B] of each sample. */
  readonly t: Tensor;
  /** Group advantages [B], already clamped to +-advantageClip. */
  readonly advantages: Tensor;
}

interface NftOptions {
  readonly beta: number;
  readonly advantageClip: number;
}

/** The floor of the adaptive weight, as released. */
const WEIGHT_FLOOR = 1e-5;

const optimalityProbability = (advantages: Tensor, advantageClip: number): Tensor => clip(add(div(advantages, 2 * advantageClip), 0.5), 0, 1);

const adaptiveError = (velocity: Tensor, inputs: NftInputs): Tensor => {
  const error = sub(sub(inputs.noised, mul(broadcastTime(inputs.t, inputs.noised), velocity)), inputs.clean);
  return div(perSampleMean(square(error)), stopGradient(maximum(perSampleMean(abs(error)), WEIGHT_FLOOR)));
};

export const nftLoss = (inputs: NftInputs, options: NftOptions) => {
  const { beta } = options;
  const positive = add(mul(inputs.velocity, beta), mul(inputs.oldVelocity, 1 - beta));
  const negative = sub(mul(inputs.oldVelocity, 1 + beta), mul(inputs.velocity, beta));
  const r = optimalityProbability(inputs.advantages, options.advantageClip);
  const positiveLoss = adaptiveError(positive, inputs);
  const negativeLoss = adaptiveError(negative, inputs);
  const perSample = add(mul(r, positiveLoss), mul(sub(1, r), negativeLoss));
  return {
    loss: mul(meanAll(perSample), options.advantageClip / beta),
    positiveLoss: meanAll(positiveLoss),
    negativeLoss: meanAll(negativeLoss),
    /** mean((v_theta - v_old)^2): how far the trained policy has moved from the one that sampled. */
    oldDeviation: meanAll(perSampleMean(square(sub(inputs.velocity, inputs.oldVelocity)))),
  };
};

interface NftGraphConfig extends PolicyConfig, NftOptions {
  readonly klBeta: number;
}

/** The learner's graph: both policies at the same x_t in one graph, the old one frozen. */
export const nftLossModel = (config: NftGraphConfig): ModelBuilder => (scope, graph) => {
  const inputs = forwardInputs(graph, config);
  const velocity = velocityAt(scope, inputs, config);
  const oldVelocity = velocityAt(scope.child(OLD_SCOPE), inputs, config);
  const terms = nftLoss({ velocity, oldVelocity, noised: inputs.noised, clean: inputs.clean, t: inputs.t, advantages: inputs.advantages }, config);
  return withReferenceKl(terms, scope, inputs, velocity, config, config.klBeta);
};
