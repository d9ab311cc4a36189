/**
 * The PPO-style clipped surrogate of GRPO (docs/algorithm.md §5) as graph ops, so the learner's
 * training graph differentiates it together with the recomputed log-probabilities:
 *   ratio = exp(logp - logp_old)
 *   L_pg  = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))
 * plus the diagnostics the learner logs every step.
 */
import type { Tensor } from "../graph/graph.ts";
import { cast, clip, div, exp, greater, less, maximum, meanAll, mul, neg, reduceMax, reduceMean, square, sub } from "../graph/ops.ts";

export interface SurrogateTerms {
  readonly loss: Tensor;
  readonly ratioMean: Tensor;
  readonly ratioMin: Tensor;
  readonly ratioMax: Tensor;
  /** Fraction of samples whose ratio lies above 1 + eps / below 1 - eps. */
  readonly clipFracHigh: Tensor;
  readonly clipFracLow: Tensor;
  /** 0.5 * mean((logp - logp_old)^2). */
  readonly approxKl: Tensor;
}

export const clippedSurrogate = (logProb: Tensor, logProbOld: Tensor, advantages: Tensor, clipRange: number): SurrogateTerms => {
  const logRatio = sub(logProb, logProbOld);
  const ratio = exp(logRatio);
  const negA = neg(advantages);
  const unclipped = mul(negA, ratio);
  const clipped = mul(negA, clip(ratio, 1 - clipRange, 1 + clipRange));
  const fraction = (mask: Tensor) => reduceMean(cast(mask, ratio.dtype), undefined, false);
  return {
    loss: meanAll(maximum(unclipped, clipped)),
    ratioMean: meanAll(ratio),
    ratioMin: neg(reduceMax(neg(ratio), undefined, false)),
    ratioMax: reduceMax(ratio, undefined, false),
    clipFracHigh: fraction(greater(ratio, 1 + clipRange)),
    clipFracLow: fraction(less(ratio, 1 - clipRange)),
    approxKl: mul(meanAll(square(logRatio)), 0.5),
  };
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
