/** What flows between the stages besides the rollout rows themselves. */
import type { AdvantagedRollout, RolloutKey } from "../rollout/rollout.ts";
import type { StepStats } from "./ports.ts";

/** One prompt of one epoch: the seed of a group. */
export interface PromptItem {
  readonly epoch: number;
  readonly prompt: string;
  readonly promptIndex: number;
  /** Unique across the run: epoch * promptsPerEpoch + position in the epoch. */
  readonly groupId: number;
}

/**
 * A member whose port call failed. It travels in place of its row so that group assembly, which
 * sees whole groups, decides between failing the run and dropping the group.
 */
export interface FailedMember {
  readonly _tag: "FailedMember";
  readonly key: RolloutKey;
  readonly stage: string;
  readonly cause: unknown;
}

export type Member<R> = R | FailedMember;

export function isFailedMember<R>(item: Member<R>): item is FailedMember {
  return (item as Partial<FailedMember>)._tag === "FailedMember";
}

/** The key fields only, so a failure does not pin the row's tensors in memory. */
export function keyOf(row: RolloutKey): RolloutKey {
  const { runId, epoch, policyVersion, prompt, promptIndex, groupId, member, seed } = row;
  return { runId, epoch, policyVersion, prompt, promptIndex, groupId, member, seed };
}

export function failedMember(row: RolloutKey, stage: string, cause: unknown): FailedMember {
  return { _tag: "FailedMember", key: keyOf(row), stage, cause };
}

/** All complete groups of one epoch, each ordered by member index. */
export interface EpochBatch<R> {
  readonly epoch: number;
  readonly groups: readonly (readonly R[])[];
}

export interface AdvantagedEpoch extends EpochBatch<AdvantagedRollout> {
  /** Fraction of groups whose members all got the same reward (they teach the generator nothing). */
  readonly zeroStdGroupFraction: number;
}

/** Which model an epoch updates: the discriminator (reward model) or the generator. */
export type Phase = "discriminator" | "generator";

export interface GeneratorStepReport {
  readonly kind: "generator";
  readonly epoch: number;
  /** Optimiser step index within the epoch. */
  readonly step: number;
  readonly stats: StepStats;
}

export interface DiscriminatorStepReport {
  readonly kind: "discriminator";
  readonly epoch: number;
  readonly stats: StepStats;
}

export interface EvaluationReport {
  readonly kind: "evaluation";
  readonly epoch: number;
  readonly metrics: StepStats;
}
