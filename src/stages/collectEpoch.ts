/**
 * groups  --g3--g1--g2--|
 * batch   --------------(b|)   b = { epoch, groups: [g1 g2 g3] }, emitted when the epoch's input completes
 *
 * The epoch barrier before advantages: the global std needs every reward of the epoch. Groups come out in
 * group order whatever order they completed in (several in flight, remote workers), so the advantages'
 * float sums, the learner's batches and the log's rows do not depend on timing.
 */
import { map, type OperatorFunction, tap, toArray } from "rxjs";
import type { RolloutKey } from "../rollout/rollout.ts";
import { EpochMismatch } from "./errors.ts";
import type { EpochBatch } from "./types.ts";

export function collectEpoch<R extends RolloutKey>(epoch: number): OperatorFunction<readonly R[], EpochBatch<R>> {
  return (groups) =>
    groups.pipe(
      tap((group) => {
        const { epoch: foundEpoch, groupId } = group[0]!;
        if (foundEpoch !== epoch) throw new EpochMismatch({ expectedEpoch: epoch, foundEpoch, groupId });
      }),
      toArray(),
      map((collected) => ({ epoch, groups: collected.toSorted((a, b) => a[0]!.groupId - b[0]!.groupId) })),
    );
}
