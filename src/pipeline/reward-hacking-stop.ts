/**
 * eval.stopOnRewardHacking: after each evaluation the run asks the reward-hacking monitor about that
 * evaluation, with the same figures the report shows (the reward margin over the references, which stays
 * comparable while the discriminator and so the reward's scale keep changing).
 */
import { hackingWarnings, type EvalSummary, type HackingWarning } from "../report/hacking-monitor.ts";
import type { MetricRecord } from "../report/metrics-log.ts";

const evalSummaries = (records: readonly MetricRecord[]): EvalSummary[] =>
  records
    .filter((r) => r.kind === "eval")
    .map((r) => ({
      epoch: r.epoch,
      generatedReward: r.metrics.generatedReward!,
      referenceReward: r.metrics.referenceReward!,
      alignment: r.metrics.alignment!,
      alignedAndStyled: r.metrics.alignedAndStyled!,
    }));

export const runHackingWarnings = (records: readonly MetricRecord[]): HackingWarning[] => hackingWarnings(evalSummaries(records), { reward: "margin" });

/** The monitor's warning about the evaluation after `epochsDone` epochs, if it fired there. */
export const hackingAt = (records: readonly MetricRecord[], epochsDone: number): HackingWarning | undefined =>
  runHackingWarnings(records).find((w) => w.epoch === epochsDone);

export const stopLine = (epochsDone: number, warning: HackingWarning): string =>
  `run stopped after ${epochsDone} epochs by eval.stopOnRewardHacking (last checkpoint: the end of that epoch): ${warning.message}`;
