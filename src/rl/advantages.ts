/**
 * Group-relative advantages (docs/algorithm.md §5):
 *   A_i = clamp((r_i - mean of i's group) / (std + epsilon), -clip, clip)
 * with std the population std over all rewards of the epoch ("global", the released code) or over
 * i's own group ("group", the paper).
 */
import { Schema } from "effect";

type StdScope = "global" | "group";

export interface AdvantageOptions {
  readonly stdScope: StdScope;
  readonly epsilon: number;
  readonly clip: number;
}

export const defaultAdvantageOptions: AdvantageOptions = { stdScope: "global", epsilon: 1e-4, clip: 5 };

interface GroupAdvantages {
  /** Same shape as the rewards: one advantage per member of each group. */
  readonly advantages: readonly (readonly number[])[];
  /** Fraction of groups whose rewards are all identical; NaN when there are no groups. */
  readonly zeroStdGroupFraction: number;
}

export class AdvantageInputError extends Schema.TaggedError<AdvantageInputError>()("AdvantageInputError", {
  groupIndex: Schema.Number,
  memberIndex: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `advantages: group ${this.groupIndex}, member ${this.memberIndex}: ${this.reason}`;
  }
}

export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

export function populationStd(values: readonly number[]): number {
  const centre = mean(values);
  let sumSquares = 0;
  for (const value of values) sumSquares += (value - centre) ** 2;
  return Math.sqrt(sumSquares / values.length);
}

export function groupAdvantages(
  rewards: readonly (readonly number[])[],
  options: AdvantageOptions = defaultAdvantageOptions,
): GroupAdvantages {
  checkRewards(rewards);
  const globalStd = options.stdScope === "global" ? populationStd(rewards.flat()) : 0;
  const advantages = rewards.map((group) => {
    const centre = mean(group);
    const std = options.stdScope === "global" ? globalStd : populationStd(group);
    return group.map((reward) => clamp((reward - centre) / (std + options.epsilon), options.clip));
  });
  // Identical rewards, not std === 0: the float mean of equal values need not equal them exactly.
  const flatGroups = rewards.filter((group) => group.every((reward) => reward === group[0])).length;
  return { advantages, zeroStdGroupFraction: flatGroups / rewards.length };
}

function clamp(value: number, bound: number): number {
  return Math.min(bound, Math.max(-bound, value));
}

function checkRewards(rewards: readonly (readonly number[])[]): void {
  rewards.forEach((group, groupIndex) => {
    if (group.length === 0) throw new AdvantageInputError({ groupIndex, memberIndex: -1, reason: "the group is empty" });
    group.forEach((reward, memberIndex) => {
      if (!Number.isFinite(reward)) {
        throw new AdvantageInputError({ groupIndex, memberIndex, reason: `the reward is ${reward}, not a finite number` });
      }
    });
  });
}
