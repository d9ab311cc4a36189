/**
 * `advgrpo replay <run> [--epoch N] [--group G] [--tolerance T]`: recomputes a run's recorded features, rewards,
 * advantages and optimiser steps, prints a per-column table, and fails when anything differs beyond T.
 */
import { parseArgs } from "node:util";
import { formatReplayReport, ReplayMismatch, replayRun } from "../pipeline/replay.ts";

const USAGE = "usage: advgrpo replay <run folder> [--epoch N] [--group G] [--tolerance T]";

const number = (flag: string, text: string | undefined, integer: boolean): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${flag}: expected a non-negative ${integer ? "integer" : "number"}, got '${text}'\n${USAGE}`);
  }
  return value;
};

export const replayCommand = async (args: readonly string[]): Promise<void> => {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { epoch: { type: "string" }, group: { type: "string" }, tolerance: { type: "string" } },
  });
  const [root] = positionals;
  if (!root || positionals.length > 1) throw new Error(USAGE);
  const epoch = number("epoch", values.epoch, true);
  const group = number("group", values.group, true);
  const tolerance = number("tolerance", values.tolerance, false);
  const report = await replayRun(root, {
    ...(epoch === undefined ? {} : { epoch }),
    ...(group === undefined ? {} : { group }),
    ...(tolerance === undefined ? {} : { tolerance }),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatReplayReport(report)}\n`);
  if (report.differs) {
    throw new ReplayMismatch({ root, columns: report.columns.filter((c) => c.differing > 0).map((c) => c.column), tolerance: report.tolerance });
  }
};
