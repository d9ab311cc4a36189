/**
 * The stages' view of the models. Every call returns a cold Observable that emits one result and
 * completes, so marble tests drive fakes in virtual time and the composition root binds the real ones:
 * ORT-backed (src/pipeline/adapters.ts), or rollout workers' results (src/distributed/remote-rollouts.ts),
 * chosen in src/pipeline/training-run.ts.
 */
import type { Observable } from "rxjs";
import type {
  AdvantagedRollout,
  FeaturedRollout,
  RolloutKey,
  SampledRollout,
  ScoredRollout,
} from "../rollout/rollout.ts";

/** Named scalar diagnostics of one step (loss, accuracy, clip fraction ...). */
export type StepStats = Readonly<Record<string, number>>;

export type Features = Pick<FeaturedRollout, "cls" | "patches" | "pooled">;
export type RewardScore = Pick<ScoredRollout, "rewards" | "reward" | "discLogitCls" | "discLogitPatch">;

export interface ReferenceFeatures extends Features {
  readonly promptIndex: number;
}

export interface DiscriminatorBatch {
  readonly epoch: number;
  /** Positives. */
  readonly references: readonly ReferenceFeatures[];
  /** Negatives: the current policy's samples. */
  readonly generated: readonly FeaturedRollout[];
}

export interface RecordAck {
  readonly rowsWritten: number;
}

/** Samples one trajectory per key, returned in key order. */
export interface SamplerPort {
  sample(keys: readonly RolloutKey[]): Observable<readonly SampledRollout[]>;
}

/** Frozen-backbone tokens of the rows' images, one entry per row, in order. */
export interface FeaturePort {
  extract(rows: readonly SampledRollout[]): Observable<readonly Features[]>;
}

/** Reward components and discriminator logits, one entry per row, in order. */
export interface RewardPort {
  score(rows: readonly FeaturedRollout[]): Observable<readonly RewardScore[]>;
}

/** One generator optimiser step on a batch of whole groups. */
export interface LearnerPort {
  step(groups: readonly (readonly AdvantagedRollout[])[]): Observable<StepStats>;
}

/** One full-batch discriminator step. */
export interface DiscriminatorPort {
  step(batch: DiscriminatorBatch): Observable<StepStats>;
}

/** Features of the reference images of the given prompts. */
export interface ReferencePort {
  forPrompts(promptIndices: readonly number[]): Observable<readonly ReferenceFeatures[]>;
}

/** Mean reward of the reference images of the given prompts (the trigger mode's yardstick). */
export interface ReferenceRewardPort {
  meanReward(promptIndices: readonly number[]): Observable<number>;
}

/** Appends rows to the rollout log; the ack means they are durable. */
export interface RecorderPort {
  record(rows: readonly AdvantagedRollout[]): Observable<RecordAck>;
}

/** Evaluates the current policy (ODE sampling, metrics). */
export interface EvaluatorPort {
  evaluate(epoch: number): Observable<StepStats>;
}
