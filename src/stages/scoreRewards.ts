/**
 * rows    -r-r-r-|
 * scored  --------s(r)s(r)--s(r)|   reward components, total and discriminator logits
 */
import type { OperatorFunction } from "rxjs";
import type { FeaturedRollout, ScoredRollout } from "../rollout/rollout.ts";
import type { RewardPort } from "./ports.ts";
import { type BatchOptions, throughPort } from "./throughPort.ts";
import type { Member } from "./types.ts";

export function scoreRewards(
  rewards: RewardPort,
  options: BatchOptions,
): OperatorFunction<Member<FeaturedRollout>, Member<ScoredRollout>> {
  return throughPort("scoreRewards", options, (rows) => rewards.score(rows), (row, score) => ({ ...row, ...score }));
}
