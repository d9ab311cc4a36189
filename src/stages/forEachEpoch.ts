/**
 * The epoch barrier that bounds memory and keeps sampling on-policy:
 *
 *   epochs    s-----------------s+1-----------------s+2 ...
 *   runEpoch  [prompts -> ... -> learner]|
 *                                [prompts -> ... -> learner]|
 *
 * Epoch e+1's prompts are not even emitted before epoch e's pipeline (learner step included)
 * completes, so however slow a downstream stage is, at most one epoch of rows is in flight.
 */
import { concatMap, defer, from, type Observable, range } from "rxjs";
import { promptsOfEpoch, type PromptSourceOptions, validatedStartEpoch } from "./promptSource.ts";
import type { PromptItem } from "./types.ts";

export function forEachEpoch<T>(
  options: PromptSourceOptions,
  runEpoch: (prompts: Observable<PromptItem>, epoch: number) => Observable<T>,
): Observable<T> {
  const startEpoch = validatedStartEpoch(options);
  return range(startEpoch, options.epochs - startEpoch).pipe(
    concatMap((epoch) => runEpoch(defer(() => from(promptsOfEpoch(options, epoch))), epoch)),
  );
}
