/**
 * `advgrpo replay <run> [--epoch N] [--group G] [--tolerance T]`: recomputes a run's recorded features, rewards,
 * advantages and optimiser steps, prints a per-column table, and fails when anything differs beyond T.
 */
import { formatReplayReport, ReplayMismatch, replayRun } from "../pipeline/replay.ts";
import { numberFlag, parseCommandArgs } from "./args.ts";
import { type ProgressBar, progressBar } from "./progress.ts";

const USAGE = "usage: advgrpo replay <run folder> [--epoch N] [--group G] [--tolerance T]";

export const replayCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: root } = parseCommandArgs(args, USAGE, { epoch: { type: "string" }, group: { type: "string" }, tolerance: { type: "string" } });
  const epoch = numberFlag("epoch", values.epoch, USAGE, { integer: true, min: 0 });
  const group = numberFlag("group", values.group, USAGE, { integer: true, min: 0 });
  const tolerance = numberFlag("tolerance", values.tolerance, USAGE, { integer: false, min: 0 });
  let bar: ProgressBar | undefined;
  const report = await replayRun(root, {
    ...(epoch === undefined ? {} : { epoch }),
    ...(group === undefined ? {} : { group }),
    ...(tolerance === undefined ? {} : { tolerance }),
    epochsDone: (done, total) => {
      bar ??= progressBar(process.stderr, total, "epochs");
      bar.update(done);
    },
  }).finally(() => bar?.end());
  process.stdout.write(`${formatReplayReport(report)}\n`);
  if (report.differs) {
    throw new ReplayMismatch({ root, columns: report.columns.filter((c) => c.differing > 0).map((c) => c.column), tolerance: report.tolerance });
  }
};
