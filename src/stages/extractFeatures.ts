/**
 * rows      -r-r-r-|
 * features  --------f(r)f(r)--f(r)|   batches of images through the frozen backbone
 */
import type { OperatorFunction } from "rxjs";
import type { FeaturedRollout, SampledRollout } from "../rollout/rollout.ts";
import type { FeaturePort } from "./ports.ts";
import { type BatchOptions, throughPort } from "./throughPort.ts";
import type { Member } from "./types.ts";

export function extractFeatures(
  features: FeaturePort,
  options: BatchOptions,
): OperatorFunction<Member<SampledRollout>, Member<FeaturedRollout>> {
  return throughPort("extractFeatures", options, (rows) => features.extract(rows), (row, tokens) => ({ ...row, ...tokens }));
}
