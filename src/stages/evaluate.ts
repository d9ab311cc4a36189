/**
 * epoch e's stream  --x--y--|
 * out, e due        --x--y--[evaluate e]--r|   r = the evaluation report, appended after completion
 * out, e not due    --x--y--|
 *
 * Applied inside an epoch (see forEachEpoch), so the evaluation sees the policy that epoch
 * trained and finishes before the next epoch starts changing it.
 */
import { concatWith, defer, EMPTY, map, type OperatorFunction } from "rxjs";
import { requirePositiveInteger } from "./errors.ts";
import type { EvaluatorPort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { EvaluationReport } from "./types.ts";

export interface EvaluateOptions {
  /** Evaluate after every k-th epoch (epochs k-1, 2k-1, ...). */
  readonly every: number;
  readonly epoch: number;
}

export function evaluate<T>(evaluator: EvaluatorPort, options: EvaluateOptions): OperatorFunction<T, T | EvaluationReport> {
  const every = requirePositiveInteger("evaluate", "every", options.every);
  const { epoch } = options;
  const evaluation = defer(() =>
    (epoch + 1) % every !== 0
      ? EMPTY
      : evaluator.evaluate(epoch).pipe(
          portResult("evaluate"),
          map((metrics): EvaluationReport => ({ kind: "evaluation", epoch, metrics })),
        ),
  );
  return (source) => source.pipe(concatWith(evaluation));
}
