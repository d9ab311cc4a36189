/**
 * epochs      --b--------c--|
 * advantaged  --b'-------c'-|   every row gains its group-relative advantage
 */
import { map, type OperatorFunction } from "rxjs";
import { type AdvantageOptions, defaultAdvantageOptions, groupAdvantages } from "../rl/advantages.ts";
import type { ScoredRollout } from "../rollout/rollout.ts";
import type { AdvantagedEpoch, EpochBatch } from "./types.ts";

export function computeAdvantages(
  options: AdvantageOptions = defaultAdvantageOptions,
): OperatorFunction<EpochBatch<ScoredRollout>, AdvantagedEpoch> {
  return map((batch) => {
    const result = groupAdvantages(
      batch.groups.map((group) => group.map((row) => row.reward)),
      options,
    );
    return {
      epoch: batch.epoch,
      groups: batch.groups.map((group, g) => group.map((row, m) => ({ ...row, advantage: result.advantages[g]![m]! }))),
      zeroStdGroupFraction: result.zeroStdGroupFraction,
    };
  });
}
