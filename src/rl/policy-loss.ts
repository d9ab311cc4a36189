/**
 * The PPO-style clipped surrogate of GRPO (docs/algorithm.md §5) as graph ops, so the learner's
 * training graph differentiates it together with the recomputed log-probabilities:
 *   ratio = exp(logp - logp_old)
 *   L_pg  = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))
 * optionally with GRPO-Guard's normalised ratio,
 * plus the diagnostics the learner logs every step.
 */
import type { Tensor } from "../graph/graph.ts";
import { add, cast, clip, div, exp, greater, less, maximum, meanAll, mul, neg, reduceMax, reduceMean, sqrt, square, sub } from "../graph/ops.ts";

interface SurrogateTerms {
  readonly loss: Tensor;
  readonly ratioMean: Tensor;
  readonly ratioMin: Tensor;
  readonly ratioMax: Tensor;
  /** mean((ratio - ratioMean)^2), centred in the graph (ratios sit near 1, so E[r^2] - E[r]^2 would cancel to noise in float32). */
  readonly ratioVariance: Tensor;
  /** Fraction of samples whose ratio lies above 1 + eps / below 1 - eps. */
  readonly clipFracHigh: Tensor;
  readonly clipFracLow: Tensor;
  /** 0.5 * mean((logp - logp_old)^2). */
  readonly approxKl: Tensor;
}

export const clippedSurrogate = (logProb: Tensor, logProbOld: Tensor, advantages: Tensor, clipRange: number, guard?: RatioNormInputs): SurrogateTerms => {
  const logRatio = sub(logProb, logProbOld);
  const ratio = exp(guard ? ratioNormalisedLogRatio(logRatio, guard) : logRatio);
  const negA = neg(advantages);
  const unclipped = mul(negA, ratio);
  const clipped = mul(negA, clip(ratio, 1 - clipRange, 1 + clipRange));
  const fraction = (mask: Tensor) => reduceMean(cast(mask, ratio.dtype), undefined, false);
  const surrogate = meanAll(maximum(unclipped, clipped));
  const ratioMean = meanAll(ratio);
  return {
    loss: guard ? div(surrogate, meanAll(guard.stepSize)) : surrogate,
    ratioMean,
    ratioVariance: meanAll(square(sub(ratio, ratioMean))),
    ratioMin: neg(reduceMax(neg(ratio), undefined, false)),
    ratioMax: reduceMax(ratio, undefined, false),
    clipFracHigh: fraction(greater(ratio, 1 + clipRange)),
    clipFracLow: fraction(less(ratio, 1 - clipRange)),
    approxKl: mul(meanAll(square(logRatio)), 0.5),
  };
};

/** What GRPO-Guard's ratio normalisation needs besides the log-probs, per sample of one window step. */
export interface RatioNormInputs {
  /** Transition means under the trained policy and under the policy that sampled, [B, ...]. */
  readonly mean: Tensor;
  readonly oldMean: Tensor;
  /** Transition variance s^2 [B] (Gaussian log-densities only). */
  readonly variance: Tensor;
  /** sigma - sigmaNext [B]: the loss is divided by its batch mean so every window step weighs alike. */
  readonly stepSize: Tensor;
}

/**
 * GRPO-Guard's RatioNorm (Wang et al. 2025, arXiv 2510.22319): the log-ratio of two Gaussians with a shared
 * variance is biased by -|mu - mu_old|^2 / (2 s^2) and its spread grows as s shrinks, so low-noise steps
 * dominate the clip. Adding the bias back and scaling by s centres and equalises the ratio across steps:
 *   log r' = (log r + mean(|mu - mu_old|^2) / (2 s^2)) * s
 */
const ratioNormalisedLogRatio = (logRatio: Tensor, guard: RatioNormInputs): Tensor => {
  const perSampleAxes = guard.mean.shape.slice(1).map((_, i) => i + 1);
  const bias = div(reduceMean(square(sub(guard.mean, guard.oldMean)), perSampleAxes, false), mul(guard.variance, 2));
  return mul(add(logRatio, bias), sqrt(guard.variance));
};

/**
 * The optional KL penalty to a reference policy (beta = 0 in Adv-GRPO): per sample,
 * mean over C*H*W of (mu - mu_ref)^2 / (2 s^2) with s^2 the transition variance [B], then the batch mean, times beta.
 */
export const klPenalty = (mean: Tensor, referenceMean: Tensor, transitionVariance: Tensor, beta: number): Tensor => {
  const perSampleAxes = mean.shape.slice(1).map((_, i) => i + 1);
  const squaredError = reduceMean(square(sub(mean, referenceMean)), perSampleAxes, false);
  return mul(meanAll(div(squaredError, mul(transitionVariance, 2))), beta);
};
