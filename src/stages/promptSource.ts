/**
 * epochs   |-- epoch s ------------|-- epoch s+1 ----------|
 * prompts  -p3-p0-p2-p1-...         -p1-p3-p0-p2-...     (seeded shuffle per epoch)
 * groupId  epoch * promptsPerEpoch + position: unique across the run, stable under resume
 */
import { concatMap, type Observable, range } from "rxjs";
import { requirePositiveInteger, StageOptionError } from "./errors.ts";
import { deriveSeed, seededShuffle } from "./seeds.ts";
import type { PromptItem } from "./types.ts";

export interface PromptSourceOptions {
  readonly prompts: readonly string[];
  /** Groups per epoch; above prompts.length the epoch walks several independent shuffles. */
  readonly promptsPerEpoch: number;
  /** Epochs of the whole run. */
  readonly epochs: number;
  /** First epoch to emit (resume); default 0. */
  readonly startEpoch?: number;
  readonly seed: number;
}

/** The prompts of one epoch, computable without the epochs before it. */
export function promptsOfEpoch(options: PromptSourceOptions, epoch: number): readonly PromptItem[] {
  const perEpoch = options.promptsPerEpoch;
  const order: number[] = [];
  for (let round = 0; order.length < perEpoch; round++) {
    order.push(...seededShuffle(Array.from(options.prompts.keys()), deriveSeed(options.seed, epoch, round)));
  }
  return order.slice(0, perEpoch).map((promptIndex, position) => ({
    epoch,
    prompt: options.prompts[promptIndex]!,
    promptIndex,
    groupId: epoch * perEpoch + position,
  }));
}

export function promptSource(options: PromptSourceOptions): Observable<PromptItem> {
  const startEpoch = validatedStartEpoch(options);
  return range(startEpoch, options.epochs - startEpoch).pipe(concatMap((epoch) => promptsOfEpoch(options, epoch)));
}

/** Checks the options and returns the first epoch. */
export function validatedStartEpoch(options: PromptSourceOptions): number {
  const stage = "promptSource";
  if (options.prompts.length === 0) {
    throw new StageOptionError({ stage, option: "prompts", expected: "at least one prompt", found: "none" });
  }
  requirePositiveInteger(stage, "promptsPerEpoch", options.promptsPerEpoch);
  const startEpoch = options.startEpoch ?? 0;
  if (!Number.isSafeInteger(options.epochs) || options.epochs < 0) {
    throw new StageOptionError({ stage, option: "epochs", expected: "a non-negative integer", found: options.epochs });
  }
  if (!Number.isSafeInteger(startEpoch) || startEpoch < 0 || startEpoch > options.epochs) {
    throw new StageOptionError({ stage, option: "startEpoch", expected: `an integer in 0..${options.epochs}`, found: startEpoch });
  }
  return startEpoch;
}
