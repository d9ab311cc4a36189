/**
 * keys     -k-k-k-k-k-|
 * calls    sampler.sample([k k]) ... at most `concurrency` in flight, batches of `batchSize`
 * rows     ------r-r----r-r--r|      (a failed call yields FailedMembers for its keys)
 */
import type { OperatorFunction } from "rxjs";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import { PortContractError } from "./errors.ts";
import type { SamplerPort } from "./ports.ts";
import { type BatchOptions, throughPort } from "./throughPort.ts";
import type { Member } from "./types.ts";

const stage = "sampleBatches";

export function sampleBatches(
  sampler: SamplerPort,
  options: BatchOptions,
): OperatorFunction<Member<RolloutKey>, Member<SampledRollout>> {
  return throughPort(stage, options, (keys) => sampler.sample(keys), checkedRow);
}

/** The sampler must answer for the key it was given: a swapped row would corrupt two groups. */
function checkedRow(key: RolloutKey, row: SampledRollout): SampledRollout {
  if (row.groupId !== key.groupId || row.member !== key.member || row.seed !== key.seed) {
    throw new PortContractError({
      stage,
      expected: `group ${key.groupId} member ${key.member} seed ${key.seed}`,
      found: `group ${row.groupId} member ${row.member} seed ${row.seed}`,
    });
  }
  return row;
}
