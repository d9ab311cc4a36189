/**
 * The shape shared by the row-wise model stages:
 *
 *   rows     --a-b-c-d-e-|
 *   batches  ----[ab]-[cd]-[e]|          bufferCount(batchSize)
 *   port     at most `concurrency` calls in flight; more batches wait at the mergeMap
 *   rows out ----------a'b'--c'd'--e'|   completion order, failed calls become FailedMembers
 *
 * Failed members pass through untouched; a port error turns its batch's rows into failed members
 * (group assembly decides what that means); a result that does not line up with its input is a
 * contract error and fails the stream. A partial batch waits for more rows or for the input to
 * complete, which forEachEpoch guarantees at the end of every epoch.
 */
import { bufferCount, catchError, map, mergeMap, type Observable, of, type OperatorFunction } from "rxjs";
import type { RolloutKey } from "../rollout/rollout.ts";
import { PortContractError, requirePositiveInteger } from "./errors.ts";
import { portResult } from "./portResult.ts";
import { failedMember, isFailedMember, type FailedMember, type Member } from "./types.ts";

export interface BatchOptions {
  /** Rows per port call. */
  readonly batchSize: number;
  /** Port calls in flight at once. */
  readonly concurrency: number;
}

interface CallFailed {
  readonly failedWith: unknown;
}

export function throughPort<In extends RolloutKey, Out, Next>(
  stage: string,
  options: BatchOptions,
  call: (rows: readonly In[]) => Observable<readonly Out[]>,
  merge: (row: In, out: Out) => Next,
): OperatorFunction<Member<In>, Member<Next>> {
  const batchSize = requirePositiveInteger(stage, "batchSize", options.batchSize);
  const concurrency = requirePositiveInteger(stage, "concurrency", options.concurrency);

  const callBatch = (batch: readonly Member<In>[]): Observable<readonly Member<Next>[]> => {
    const rows = batch.filter((item): item is In => !isFailedMember(item));
    if (rows.length === 0) return of(batch as readonly FailedMember[]);
    return call(rows).pipe(
      catchError((failedWith: unknown) => of<CallFailed>({ failedWith })),
      portResult(stage),
      map((result) =>
        inBatchOrder(
          batch,
          "failedWith" in result
            ? rows.map((row) => failedMember(row, stage, result.failedWith))
            : alignedMerge(stage, rows, result, merge),
        ),
      ),
    );
  };

  return (source) =>
    source.pipe(
      bufferCount(batchSize),
      mergeMap(callBatch, concurrency),
      mergeMap((members) => members),
    );
}

function alignedMerge<In, Out, Next>(
  stage: string,
  rows: readonly In[],
  outs: readonly Out[],
  merge: (row: In, out: Out) => Next,
): Next[] {
  if (outs.length !== rows.length) {
    throw new PortContractError({ stage, expected: `one result per row (${rows.length})`, found: `${outs.length} results` });
  }
  return rows.map((row, i) => merge(row, outs[i]!));
}

/** Puts the rows' outcomes back between the batch's failed members, where the rows were. */
function inBatchOrder<In, Next>(batch: readonly Member<In>[], outcomes: readonly Member<Next>[]): Member<Next>[] {
  let next = 0;
  return batch.map((item) => (isFailedMember(item) ? item : outcomes[next++]!));
}
