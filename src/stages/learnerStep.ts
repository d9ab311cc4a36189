/**
 * epochs  --b---------------------c---|
 * steps     [step g0 g1]-[step g2]  [step ...]   stepsPerEpoch steps of whole groups, sizes differing by at most one
 * reports ------------s0-----------s1----------...  one per step, in order, steps never overlap
 */
import { concatMap, from, map, type OperatorFunction } from "rxjs";
import { requirePositiveInteger } from "./errors.ts";
import type { LearnerPort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { AdvantagedEpoch, GeneratorStepReport } from "./types.ts";

export interface LearnerStepOptions {
  /**
   * Optimiser steps per epoch. Groups are never split (advantages are normalised within one), so an epoch's
   * groups are dealt into this many steps as evenly as possible, larger steps first; an epoch with fewer
   * groups (dropped groups) takes one step per group.
   */
  readonly stepsPerEpoch: number;
}

export function learnerStep(learner: LearnerPort, options: LearnerStepOptions): OperatorFunction<AdvantagedEpoch, GeneratorStepReport> {
  const stepsPerEpoch = requirePositiveInteger("learnerStep", "stepsPerEpoch", options.stepsPerEpoch);
  return concatMap((batch) =>
    from(evenSplit(batch.groups, stepsPerEpoch)).pipe(
      concatMap((groups, step) =>
        learner.step(groups).pipe(
          portResult("learnerStep"),
          map((stats): GeneratorStepReport => ({ kind: "generator", epoch: batch.epoch, step, stats })),
        ),
      ),
    ),
  );
}

export function evenSplit<T>(items: readonly T[], parts: number): T[][] {
  const steps = Math.min(parts, items.length);
  const base = Math.floor(items.length / steps);
  const larger = items.length % steps;
  const out: T[][] = [];
  for (let i = 0, start = 0; i < steps; i++) {
    const size = base + (i < larger ? 1 : 0);
    out.push(items.slice(start, start + size));
    start += size;
  }
  return out;
}
