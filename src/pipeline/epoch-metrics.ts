/**
 * What an epoch reports to metrics.jsonl: each optimiser step as it happens, then one epoch record with the
 * reward statistics, the phase, wall time, memory and the milliseconds spent behind each port.
 */
import type { MetricRecord } from "../report/metrics-log.ts";
import { mean, populationStd } from "../rl/advantages.ts";
import type { StepStats } from "../stages/ports.ts";
import type { AdvantagedEpoch } from "../stages/types.ts";

/** Per-epoch reward statistics, per component and in total. */
const epochMetrics = (batch: AdvantagedEpoch): Record<string, number> => {
  const rows = batch.groups.flat();
  const components = Object.keys(rows[0]?.rewards ?? {});
  return {
    rewardMean: mean(rows.map((r) => r.reward)),
    rewardStd: populationStd(rows.map((r) => r.reward)),
    zeroStdGroupFraction: batch.zeroStdGroupFraction,
    advantageAbsMean: mean(rows.map((r) => Math.abs(r.advantage))),
    discLogitCls: mean(rows.map((r) => r.discLogitCls)),
    ...Object.fromEntries(components.map((c) => [`reward.${c}`, mean(rows.map((r) => r.rewards[c]!))])),
  };
};

export const residentMB = (): number => process.memoryUsage().rss / 2 ** 20;

/** One epoch's reports, appended to the metrics log as they arrive and kept for its console line. */
export class EpochTally {
  readonly epoch: number;
  private readonly append: (record: MetricRecord) => void;
  summary: Readonly<Record<string, number>> = {};
  readonly generatorSteps: StepStats[] = [];
  discriminatorStats: StepStats | undefined;

  constructor(epoch: number, append: (record: MetricRecord) => void) {
    this.epoch = epoch;
    this.append = append;
  }

  /** The phase the epoch trained: G when the generator stepped, else D. */
  get phase(): "G" | "D" {
    return this.generatorSteps.length > 0 ? "G" : "D";
  }

  rollouts(batch: AdvantagedEpoch): void {
    this.summary = epochMetrics(batch);
  }

  /** `step`: the generator optimiser's step count after the step. */
  generator(stats: StepStats, step: number): void {
    this.generatorSteps.push({ ...stats });
    this.append({ kind: "generator", epoch: this.epoch, step, metrics: stats });
  }

  discriminator(stats: StepStats): void {
    this.discriminatorStats = { ...stats };
    this.append({ kind: "discriminator", epoch: this.epoch, metrics: stats });
  }

  /** The epoch record; `timings` are milliseconds per port. */
  close(seconds: number, timings: Readonly<Record<string, number>>, rssMB: number): void {
    this.append({
      kind: "epoch",
      epoch: this.epoch,
      metrics: { ...this.summary, seconds, generatorPhase: this.phase === "G" ? 1 : 0, rssMB, ...Object.fromEntries(Object.entries(timings).map(([k, v]) => [`ms.${k}`, v])) },
    });
  }
}
