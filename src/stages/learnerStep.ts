/**
 * epochs  --b---------------------c---|
 * steps     [step g0 g1]-[step g2 g3]  [step ...]   groupsPerStep whole groups per optimiser step
 * reports ------------s0-----------s1----------...  one per step, in order, steps never overlap
 */
import { concatMap, from, map, type OperatorFunction } from "rxjs";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { requirePositiveInteger } from "./errors.ts";
import type { LearnerPort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { AdvantagedEpoch, GeneratorStepReport } from "./types.ts";

export interface LearnerStepOptions {
  /** Whole groups per optimiser step (the last step of an epoch takes the remainder). */
  readonly groupsPerStep: number;
}

export function learnerStep(learner: LearnerPort, options: LearnerStepOptions): OperatorFunction<AdvantagedEpoch, GeneratorStepReport> {
  const groupsPerStep = requirePositiveInteger("learnerStep", "groupsPerStep", options.groupsPerStep);
  return concatMap((batch) =>
    from(chunks(batch.groups, groupsPerStep)).pipe(
      concatMap((groups, step) =>
        learner.step(groups).pipe(
          portResult("learnerStep"),
          map((stats): GeneratorStepReport => ({ kind: "generator", epoch: batch.epoch, step, stats })),
        ),
      ),
    ),
  );
}

function chunks(
  groups: readonly (readonly AdvantagedRollout[])[],
  size: number,
): (readonly (readonly AdvantagedRollout[])[])[] {
  return Array.from({ length: Math.ceil(groups.length / size) }, (_, i) => groups.slice(i * size, (i + 1) * size));
}
