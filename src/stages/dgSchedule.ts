/**
 * interval mode, dTimes = 3:
 *   epochs  -0-1-2-3-4-5-|
 *   phase    D D G D D G      d_times - 1 of every d_times epochs update only the discriminator
 * trigger mode: an epoch updates the discriminator (and skips the generator) only when the mean
 *   generated reward exceeds the mean reference reward of its prompts.
 *
 * Each epoch runs its phase's branch to completion before the next epoch enters.
 */
import { concatMap, map, type Observable, of, type OperatorFunction } from "rxjs";
import { mean } from "../rl/advantages.ts";
import { requirePositiveInteger } from "./errors.ts";
import type { ReferenceRewardPort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { AdvantagedEpoch, Phase } from "./types.ts";

export type DgScheduleOptions =
  | { readonly mode: "interval"; readonly dTimes: number }
  | { readonly mode: "trigger"; readonly referenceReward: ReferenceRewardPort };

interface PhaseBranches<D, G> {
  readonly discriminator: OperatorFunction<AdvantagedEpoch, D>;
  readonly generator: OperatorFunction<AdvantagedEpoch, G>;
}

/** The generator trains on the last epoch of each run of dTimes, after dTimes - 1 discriminator epochs. */
export function intervalPhase(epoch: number, dTimes: number): Phase {
  return epoch % dTimes === dTimes - 1 ? "generator" : "discriminator";
}

export function dgSchedule<D, G>(options: DgScheduleOptions, branches: PhaseBranches<D, G>): OperatorFunction<AdvantagedEpoch, D | G> {
  const phaseOf = phaseDecider(options);
  const branch = (phase: Phase): OperatorFunction<AdvantagedEpoch, D | G> => branches[phase];
  return concatMap((batch) => phaseOf(batch).pipe(concatMap((phase) => of(batch).pipe(branch(phase)))));
}

function phaseDecider(options: DgScheduleOptions): (batch: AdvantagedEpoch) => Observable<Phase> {
  if (options.mode === "interval") {
    const dTimes = requirePositiveInteger("dgSchedule", "dTimes", options.dTimes);
    return (batch) => of(intervalPhase(batch.epoch, dTimes));
  }
  return (batch) => {
    const rows = batch.groups.flat();
    const promptIndices = [...new Set(rows.map((row) => row.promptIndex))];
    const generatedMean = mean(rows.map((row) => row.reward));
    return options.referenceReward.meanReward(promptIndices).pipe(
      portResult("dgSchedule.referenceReward"),
      map((referenceMean): Phase => (generatedMean > referenceMean ? "discriminator" : "generator")),
    );
  };
}
