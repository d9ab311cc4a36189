/**
 * epochs    --b-----------c------|
 * recorder    [record b]--  [record c]--
 * out       -----------b-----------c-|   an epoch moves on only once its rows are durable
 */
import { concatMap, map, type MonoTypeOperatorFunction } from "rxjs";
import type { RecorderPort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { AdvantagedEpoch } from "./types.ts";

export function recordRollouts(recorder: RecorderPort): MonoTypeOperatorFunction<AdvantagedEpoch> {
  return concatMap((batch) =>
    recorder.record(batch.groups.flat()).pipe(
      portResult("recordRollouts"),
      map(() => batch),
    ),
  );
}
