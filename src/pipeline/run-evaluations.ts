/**
 * A run's evaluations as they arrive: each goes to metrics.jsonl, the console and a rebuilt report, and with
 * eval.stopOnRewardHacking it is checked by the reward-hacking monitor, whose first warning becomes the
 * reason the run stops after its epoch.
 */
import { readMetricsLog, type MetricRecord } from "../report/metrics-log.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { evaluationLine } from "./console-text.ts";
import { writeRunReport } from "./report.ts";
import { hackingAt, stopLine } from "./reward-hacking-stop.ts";
import type { RunFolder } from "./run-folder.ts";

interface RunEvaluationsContext {
  readonly config: PipelineConfig;
  readonly folder: RunFolder;
  readonly configJson: string;
  readonly append: (record: MetricRecord) => void;
  readonly progress: (line: string) => void;
}

/** The metrics of the last evaluation metrics.jsonl holds, if any. */
export const lastEvaluationIn = (folder: RunFolder): Readonly<Record<string, number>> | undefined =>
  readMetricsLog(folder.root).records.filter((r) => r.kind === "eval").at(-1)?.metrics;

export class RunEvaluations {
  /** The latest evaluation's metrics (a resumed run starts from what metrics.jsonl holds). */
  last: Readonly<Record<string, number>> | undefined;
  /** Set by the first reward-hacking warning when eval.stopOnRewardHacking is on. */
  stopReason: string | undefined;
  private readonly c: RunEvaluationsContext;

  constructor(c: RunEvaluationsContext, resumed: boolean) {
    this.c = c;
    this.last = resumed ? lastEvaluationIn(c.folder) : undefined;
  }

  record(epochsDone: number, values: Readonly<Record<string, number>>): void {
    const { config, folder, configJson } = this.c;
    this.last = { ...values };
    this.c.append({ kind: "eval", epoch: epochsDone, metrics: values });
    this.c.progress(evaluationLine(epochsDone, values));
    if (config.eval.stopOnRewardHacking && this.stopReason === undefined) {
      const warning = hackingAt(readMetricsLog(folder.root).records, epochsDone);
      if (warning) {
        this.stopReason = stopLine(epochsDone, warning);
        this.c.progress(this.stopReason);
      }
    }
    writeRunReport(folder, configJson, this.stopReason);
  }
}
