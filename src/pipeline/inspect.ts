/**
 * `advgrpo inspect`: what a run folder says about its training, read from the rollout log and the metrics log
 * alone (no model is loaded): per-epoch reward, advantage, discriminator and ratio statistics, the latest
 * evaluation, and image grids of chosen rollouts.
 */
import { existsSync, writeFileSync } from "node:fs";
import { decodePng, encodePng, type RgbImage } from "../io/png.ts";
import { readRolloutLog, type RecordedRollout, type RolloutLogContents } from "../io/rollout-log/index.ts";
import { composeGrid } from "../report/grid.ts";
import { type MetricRecord, metricsPath, readMetricsLog } from "../report/metrics-log.ts";
import { mean, populationStd } from "../rl/advantages.ts";
import { runFolder, type RunFolder, RunFolderError } from "./run-folder.ts";

export interface RunRecords {
  readonly folder: RunFolder;
  readonly log: RolloutLogContents;
  readonly metrics: readonly MetricRecord[];
  /** Tolerated damage (a truncated log, an incomplete last metrics line), worded for the user. */
  readonly warnings: readonly string[];
}

/** The rollout log (complete batches only) and metrics of the run at `root`, filtered like readRolloutLog. */
export const readRunRecords = (root: string, select: { readonly epoch?: number; readonly groupId?: number } = {}): RunRecords => {
  const folder = runFolder(root);
  if (!existsSync(root)) throw new RunFolderError({ folder: root, reason: "no such run folder (give the folder `advgrpo run` wrote: <run.outputDir>/<run.name>)" });
  if (!existsSync(folder.rollouts)) throw new RunFolderError({ folder: root, reason: "no rollouts.arrows here; is this a run folder, and did its first epoch finish?" });
  const log = readRolloutLog(folder.rollouts, select);
  const metrics = existsSync(metricsPath(root)) ? readMetricsLog(root) : { records: [], warnings: [`${root}: no metrics.jsonl; the table shows rollout statistics only`] };
  return { folder, log, metrics: metrics.records, warnings: [...(log.truncated ? [log.truncated.message] : []), ...metrics.warnings] };
};

/** Rows grouped by group id in file order, each group's members in member order. */
export const groupsOf = (rows: readonly RecordedRollout[]): RecordedRollout[][] => {
  const groups = new Map<number, RecordedRollout[]>();
  for (const row of rows) groups.set(row.groupId, [...(groups.get(row.groupId) ?? []), row]);
  return [...groups.values()].map((g) => g.sort((a, b) => a.member - b.member));
};

interface Spread {
  readonly mean: number;
  readonly std: number;
}

interface EpochSummary {
  readonly epoch: number;
  /** "G" when the epoch stepped the generator, "D" when it stepped a discriminator, "?" when the metrics do not say. */
  readonly phase: "D" | "G" | "?";
  readonly rows: number;
  readonly groups: number;
  /** Per reward component, and "total" for the weighted sum. */
  readonly rewards: Readonly<Record<string, Spread>>;
  readonly advantageAbsMean: number;
  readonly zeroStdGroupFraction: number;
  readonly discriminatorAccuracy: number | undefined;
  readonly ratioMin: number | undefined;
  readonly ratioMax: number | undefined;
  /** Mean over the epoch's optimiser steps of the clipped fraction (above plus below). */
  readonly clipFraction: number | undefined;
  readonly seconds: number | undefined;
}

interface RunInspection {
  readonly root: string;
  readonly runId: string;
  readonly rewardComponents: readonly string[];
  readonly epochs: readonly EpochSummary[];
  readonly latestEval: MetricRecord | undefined;
  readonly warnings: readonly string[];
}

const spread = (xs: readonly number[]): Spread => ({ mean: mean(xs), std: populationStd(xs) });

const summariseEpoch = (epoch: number, rows: readonly RecordedRollout[], components: readonly string[], metrics: readonly MetricRecord[]): EpochSummary => {
  const groups = groupsOf(rows);
  const of = (kind: MetricRecord["kind"]) => metrics.filter((r) => r.kind === kind && r.epoch === epoch);
  const steps = of("generator");
  const discriminator = of("discriminator").at(-1);
  const timing = of("epoch").at(-1);
  const phase = steps.length > 0 ? "G" : discriminator ? "D" : "?";
  const stat = (key: string) => steps.map((s) => s.metrics[key]!);
  return {
    epoch,
    phase,
    rows: rows.length,
    groups: groups.length,
    rewards: { total: spread(rows.map((r) => r.reward)), ...Object.fromEntries(components.map((c) => [c, spread(rows.map((r) => r.rewards[c]!))])) },
    advantageAbsMean: mean(rows.map((r) => Math.abs(r.advantage))),
    zeroStdGroupFraction: groups.filter((g) => g.every((r) => r.reward === g[0]!.reward)).length / groups.length,
    discriminatorAccuracy: discriminator?.metrics.accuracy,
    ratioMin: steps.length ? Math.min(...stat("ratioMin")) : undefined,
    ratioMax: steps.length ? Math.max(...stat("ratioMax")) : undefined,
    clipFraction: steps.length ? mean(steps.map((s) => s.metrics.clipFracHigh! + s.metrics.clipFracLow!)) : undefined,
    seconds: timing?.metrics.seconds,
  };
};

export const inspectRun = (root: string): RunInspection => {
  const { log, metrics, warnings } = readRunRecords(root);
  const byEpoch = new Map<number, RecordedRollout[]>();
  for (const row of log.rows) byEpoch.set(row.epoch, [...(byEpoch.get(row.epoch) ?? []), row]);
  const components = log.metadata.rewardComponents;
  return {
    root,
    runId: log.metadata.runId,
    rewardComponents: components,
    epochs: [...byEpoch].map(([epoch, rows]) => summariseEpoch(epoch, rows, components, metrics)),
    latestEval: metrics.filter((r) => r.kind === "eval").at(-1),
    warnings,
  };
};

const num = (x: number | undefined, digits = 3): string =>
  x === undefined || Number.isNaN(x) ? "-" : x === 0 || (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e5) ? x.toFixed(digits) : x.toExponential(2);

/** Columns padded to their widest cell; the first column left-aligned, numbers right-aligned. */
export const formatTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
};

export const formatInspection = (run: RunInspection): string => {
  const rewardHeads = ["total", ...run.rewardComponents];
  const header = ["epoch", "phase", "rows", ...rewardHeads.map((c) => `${c === "total" ? "reward" : c} mean±std`), "|A| mean", "zero-std", "D acc", "ratio min", "ratio max", "clip", "seconds"];
  const rows = run.epochs.map((e) => [
    String(e.epoch),
    e.phase,
    String(e.rows),
    ...rewardHeads.map((c) => `${num(e.rewards[c]!.mean)}±${num(e.rewards[c]!.std)}`),
    num(e.advantageAbsMean),
    num(e.zeroStdGroupFraction, 2),
    num(e.discriminatorAccuracy, 2),
    num(e.ratioMin, 6),
    num(e.ratioMax, 6),
    num(e.clipFraction, 3),
    num(e.seconds, 1),
  ]);
  const evaluation = run.latestEval
    ? [`latest evaluation (after ${run.latestEval.epoch} epochs):`, ...Object.entries(run.latestEval.metrics).map(([k, v]) => `  ${k.padEnd(24)} ${num(v, 4)}`)]
    : ["no evaluation recorded"];
  return [`run ${run.runId} (${run.root}): ${run.epochs.length} epochs, ${run.epochs.reduce((n, e) => n + e.rows, 0)} rollouts`, ...run.warnings.map((w) => `warning: ${w}`), "", formatTable(header, rows), "", ...evaluation].join("\n");
};

interface ImageExport {
  readonly out: string;
  /** Grid rows (groups) and columns (members). */
  readonly groups: number;
  readonly members: number;
  readonly height: number;
  readonly width: number;
}

/** A PNG grid of one epoch's images (one row per group, one column per member), optionally of one group only. */
export const exportImages = (root: string, options: { readonly epoch: number; readonly group?: number; readonly out: string; readonly scale?: number }): ImageExport => {
  const { log } = readRunRecords(root, { epoch: options.epoch, ...(options.group === undefined ? {} : { groupId: options.group }) });
  const what = `epoch ${options.epoch}${options.group === undefined ? "" : ` group ${options.group}`}`;
  if (log.rows.length === 0) throw new RunFolderError({ folder: root, reason: `the rollout log has no rows of ${what}` });
  const images: RgbImage[][] = groupsOf(log.rows).map((group) =>
    group.map((row) => {
      if (row.png.length === 0) throw new RunFolderError({ folder: root, reason: `the run did not store images (record.storeImages: false), so ${what} cannot be exported` });
      return decodePng(row.png, `rollout epoch ${row.epoch} group ${row.groupId} member ${row.member}`);
    }),
  );
  const grid = composeGrid(images, { scale: options.scale ?? 1 });
  writeFileSync(options.out, encodePng(grid, options.out));
  return { out: options.out, groups: images.length, members: Math.max(...images.map((g) => g.length)), height: grid.height, width: grid.width };
};
