/**
 * The unit that flows through the pipeline and is recorded: one sampled image of one prompt's group.
 * Stages add fields as the row moves downstream, so the recorded row is exactly what the learner saw
 * and replay can feed it back in at any stage.
 */

/** One stochastic (trained) transition of the sampler's SDE window. Tensors are the sample's own [C,H,W] slice. */
export interface TrajectoryStep {
  /** Index of the step in the sampling schedule (0 = noisiest). */
  readonly stepIndex: number;
  readonly sigma: number;
  readonly sigmaNext: number;
  /** Latent before the transition, flattened [C*H*W]. */
  readonly x: Float32Array;
  /** Latent after the transition, flattened [C*H*W]. */
  readonly xNext: Float32Array;
  /** log p_old(xNext | x) as recorded at sampling time (fp32, a mean over C*H*W). */
  readonly logProb: number;
}

/** Identity of a rollout within a run. */
export interface RolloutKey {
  readonly runId: string;
  readonly epoch: number;
  /** Number of generator optimiser steps taken before this rollout was sampled. */
  readonly policyVersion: number;
  readonly prompt: string;
  readonly promptIndex: number;
  /** Unique per (epoch, prompt) group within the run. */
  readonly groupId: number;
  /** Member index inside the group, 0..G-1. */
  readonly member: number;
  /** Seed of the initial noise and of every SDE step's noise. */
  readonly seed: number;
}

/** After sampling: the trajectory and the decoded image. */
export interface SampledRollout extends RolloutKey {
  readonly steps: readonly TrajectoryStep[];
  /** Decoded image, [3,H,W] in [0,1]. */
  readonly image: Float32Array;
  /**
   * The final latent x0, flattened [C*H*W], kept only where a forward-process objective (nft, awm) trains a
   * latent generator: its image is the VAE's decoding, from which x0 cannot be recovered.
   */
  readonly clean?: Float32Array;
  readonly imageHeight: number;
  readonly imageWidth: number;
  /**
   * Milliseconds spent on this rollout, keyed by stage. Only sampling times single rollouts (`sample`: its batch's
   * sampling time over the batch size); the stages that run per group or per epoch are timed in metrics.jsonl.
   */
  readonly timings: Readonly<Record<string, number>>;
}

/** After feature extraction: the frozen backbone's tokens. */
export interface FeaturedRollout extends SampledRollout {
  /** CLS token [D]. */
  readonly cls: Float32Array;
  /** Patch tokens, flattened [N*D]. */
  readonly patches: Float32Array;
  /** L2-normalised pooled feature [D] used for similarity metrics. */
  readonly pooled: Float32Array;
}

/** After reward scoring: each reward component and their weighted total. */
export interface ScoredRollout extends FeaturedRollout {
  readonly rewards: Readonly<Record<string, number>>;
  readonly reward: number;
  /** Discriminator logits: h(cls) and mean over sampled patches of h(patch); NaN when no discriminator runs. */
  readonly discLogitCls: number;
  readonly discLogitPatch: number;
}

/** After group assembly: the group-normalised advantage, the same for every trained step. */
export interface AdvantagedRollout extends ScoredRollout {
  readonly advantage: number;
}
