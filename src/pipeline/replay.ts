/**
 * `advgrpo replay`: feeds a run's recorded rollouts back through the downstream stages with the models as they
 * were when each epoch started, and compares every recomputed value with the recorded one:
 *
 *   PNG -> backbone features -> reward components, total, discriminator logits   (per rollout row)
 *   recorded rewards -> group advantages                                         (per rollout row)
 *   recorded rows -> discriminator hinge step | learner optimiser steps           (per step, vs metrics.jsonl)
 *
 * The state an epoch started from is the checkpoint written at the end of the epoch before it (for epoch 0 the
 * freshly built models: pretrained generator, discriminator initialised from run.seed), so a replay of the same
 * build reproduces the run bit for bit and any difference points at the first row where it arose.
 */
import { existsSync, readFileSync } from "node:fs";
import { Effect, Schema } from "effect";
import { decodePng, type RgbImage } from "../io/png.ts";
import type { RecordedRollout } from "../io/rollout-log/index.ts";
import { loadTrainingState, type TrainingState } from "../io/training-state.ts";
import type { Features } from "../models/backbone/features.ts";
import { groupAdvantages } from "../rl/advantages.ts";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { decodePipelineConfig } from "./config/load.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { formatTable, groupsOf, readRunRecords, RunFolderError, type RunRecords } from "./inspect.ts";
import { buildRun, withRun } from "./compose.ts";
import type { Policy } from "./policy.ts";
import { concatFeatures, type RewardModel } from "./reward-model.ts";
import { checkpointFile } from "./run-folder.ts";
import { applyState, batchLabel, captureState, headsTrainedIn } from "./state.ts";

export interface ReplayOptions {
  /** Only this epoch. */
  readonly epoch?: number;
  /** Only this group's rows (optimiser steps, which need the whole epoch, are then not replayed). */
  readonly group?: number;
  /** Largest absolute difference still counted as equal; default 0 (exact). */
  readonly tolerance?: number;
  readonly progress?: (line: string) => void;
}

/** A rollout row, or an optimiser step of an epoch. */
export type Where = { readonly epoch: number; readonly group: number; readonly member: number } | { readonly epoch: number; readonly step: number };

export interface ColumnReport {
  readonly column: string;
  /** Values compared (rows, or steps). */
  readonly compared: number;
  /** Rows (or steps) with a difference beyond the tolerance. */
  readonly differing: number;
  readonly maxAbsDiff: number;
  /** The first differing row in log order, with the values that differ most in it. */
  readonly first: { readonly where: Where; readonly recorded: number; readonly recomputed: number } | undefined;
}

export interface ReplayReport {
  readonly root: string;
  readonly tolerance: number;
  readonly epochs: readonly number[];
  readonly rows: number;
  readonly columns: readonly ColumnReport[];
  /** What was not replayed, and why (a truncated log, a pruned checkpoint ...). */
  readonly notes: readonly string[];
  readonly differs: boolean;
}

/** Raised by the CLI when a replay found differences, so the command exits non-zero after printing its table. */
export class ReplayMismatch extends Schema.TaggedError<ReplayMismatch>()("ReplayMismatch", {
  root: Schema.String,
  columns: Schema.Array(Schema.String),
  tolerance: Schema.Number,
}) {
  override get message() {
    return `${this.root}: recomputed values differ from the recorded ones beyond tolerance ${this.tolerance} in ${this.columns.join(", ")}`;
  }
}

/** |a - b| where equal values (NaN included: "no discriminator") differ by 0 and NaN against a number by Infinity. */
const absDiff = (a: number, b: number): number => (a === b || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Number.isNaN(a - b) ? Infinity : Math.abs(a - b));

interface Column {
  compared: number;
  differing: number;
  maxAbsDiff: number;
  first: ColumnReport["first"];
}

class Comparison {
  private readonly tolerance: number;
  private readonly columns = new Map<string, Column>();

  constructor(tolerance: number) {
    this.tolerance = tolerance;
  }

  /** One row of a column; vectors count as one row, reported by their most different element. */
  add(column: string, where: Where, recorded: number | Float32Array, recomputed: number | Float32Array): void {
    const [a, b] = [typeof recorded === "number" ? [recorded] : recorded, typeof recomputed === "number" ? [recomputed] : recomputed];
    // A length mismatch (a log of another layout) differs by Infinity and shows the two lengths.
    let worst = { diff: a.length === b.length ? 0 : Infinity, recorded: a.length, recomputed: b.length };
    if (a.length === b.length) {
      for (let i = 0; i < a.length; i++) {
        const diff = absDiff(a[i]!, b[i]!);
        if (diff > worst.diff) worst = { diff, recorded: a[i]!, recomputed: b[i]! };
      }
    }
    const c = this.columns.get(column) ?? { compared: 0, differing: 0, maxAbsDiff: 0, first: undefined };
    this.columns.set(column, c);
    c.compared++;
    c.maxAbsDiff = Math.max(c.maxAbsDiff, worst.diff);
    if (worst.diff > this.tolerance) {
      c.differing++;
      c.first ??= { where, recorded: worst.recorded, recomputed: worst.recomputed };
    }
  }

  report(): ColumnReport[] {
    return [...this.columns].map(([column, c]) => ({ column, ...c }));
  }
}

const readConfig = async (records: RunRecords): Promise<PipelineConfig> => {
  const { folder } = records;
  const [text, source] = existsSync(folder.config) ? [readFileSync(folder.config, "utf8"), folder.config] : [records.log.metadata.pipelineConfig, `${folder.rollouts} metadata`];
  return Effect.runPromise(decodePipelineConfig(JSON.parse(text), source));
};

const rowAt = (r: RecordedRollout): Where => ({ epoch: r.epoch, group: r.groupId, member: r.member });

interface ReplayedGroup {
  readonly rows: readonly AdvantagedRollout[];
  readonly features: Features;
}

class Replayer {
  readonly compare: Comparison;
  readonly notes: string[] = [];
  private readonly records: RunRecords;
  private readonly config: PipelineConfig;
  private readonly policy: Policy;
  private readonly rewards: RewardModel;
  private readonly initial: TrainingState;

  constructor(args: { records: RunRecords; config: PipelineConfig; policy: Policy; rewards: RewardModel; tolerance: number }) {
    this.records = args.records;
    this.config = args.config;
    this.policy = args.policy;
    this.rewards = args.rewards;
    this.initial = captureState(args.policy, args.rewards);
    this.compare = new Comparison(args.tolerance);
  }

  /** Restores the state epoch `epoch` started from; false (with a note) when its checkpoint is gone. */
  private async startOf(epoch: number): Promise<boolean> {
    if (epoch === 0) {
      applyState(this.initial, "the initial state", this.policy, this.rewards);
      return true;
    }
    const file = checkpointFile(this.records.folder, epoch - 1);
    if (!existsSync(file)) {
      this.notes.push(`epoch ${epoch}: no checkpoint ${file} (pruned by run.keepCheckpoints?): rewards and steps not replayed, only advantages`);
      return false;
    }
    applyState(await loadTrainingState(file), file, this.policy, this.rewards);
    return true;
  }

  /** Features and rewards of one group, compared row by row; the rows come back as the learner saw them. */
  private async scoreGroup(group: readonly RecordedRollout[]): Promise<ReplayedGroup> {
    const images: RgbImage[] = group.map((r) => decodePng(r.png, `rollout epoch ${r.epoch} group ${r.groupId} member ${r.member}`));
    const f = await this.rewards.features.extract(images);
    const first = group[0]!;
    const scored = await this.rewards.score(images, group.map((r) => r.prompt), f, batchLabel(first));
    const rows = group.map((r, i): AdvantagedRollout => {
      const slice = (data: Float32Array, width: number) => data.slice(i * width, (i + 1) * width);
      const recomputed = { cls: slice(f.cls, f.dim), patches: slice(f.patches, f.patchCount * f.dim), pooled: slice(f.pooled, f.pooledDim) };
      const at = rowAt(r);
      this.compare.add("pooled", at, r.pooled, recomputed.pooled);
      if (r.cls) this.compare.add("cls", at, r.cls, recomputed.cls);
      if (r.patches) this.compare.add("patches", at, r.patches, recomputed.patches);
      for (const [name, values] of Object.entries(scored.components)) this.compare.add(`reward.${name}`, at, r.rewards[name] ?? NaN, values[i]!);
      this.compare.add("reward", at, r.reward, scored.total[i]!);
      this.compare.add("discLogitCls", at, r.discLogitCls, scored.clsLogits[i]!);
      this.compare.add("discLogitPatch", at, r.discLogitPatch, scored.patchLogits[i]!);
      return { ...r, ...recomputed, image: images[i]!.data };
    });
    return { rows, features: f };
  }

  private advantages(groups: readonly (readonly RecordedRollout[])[], selected: (r: RecordedRollout) => boolean): void {
    const { learner } = this.config;
    const { advantages } = groupAdvantages(
      groups.map((g) => g.map((r) => r.reward)),
      { stdScope: learner.advantageStd, epsilon: learner.advantageEpsilon, clip: learner.advantageClip },
    );
    groups.forEach((g, i) => g.forEach((r, m) => selected(r) && this.compare.add("advantage", rowAt(r), r.advantage, advantages[i]![m]!)));
  }

  private async discriminatorStep(epoch: number, replayed: readonly ReplayedGroup[]): Promise<void> {
    const recorded = this.records.metrics.find((r) => r.kind === "discriminator" && r.epoch === epoch);
    if (!recorded) return;
    const rows = replayed.flatMap((g) => g.rows);
    const generated = concatFeatures(replayed.map((g) => g.features));
    const stats: Record<string, number> = {};
    for (const [k, head] of headsTrainedIn(this.config, this.rewards, epoch).entries()) {
      const step = await this.rewards.discriminatorStep(head, rows.map((r) => r.prompt), generated, `discriminator/${epoch}/${k}`);
      for (const [name, v] of Object.entries(step)) stats[k === 0 ? name : `head${k}.${name}`] = v;
    }
    for (const [name, v] of Object.entries(stats)) this.compare.add(`discriminator.${name}`, { epoch, step: 0 }, recorded.metrics[name] ?? NaN, v);
  }

  private async learnerSteps(epoch: number, replayed: readonly ReplayedGroup[]): Promise<void> {
    const recorded = this.records.metrics.filter((r) => r.kind === "generator" && r.epoch === epoch);
    if (recorded.length === 0) return;
    const perStep = Math.ceil(this.config.sampler.promptsPerEpoch / this.config.learner.stepsPerEpoch);
    const steps = Array.from({ length: Math.ceil(replayed.length / perStep) }, (_, i) => replayed.slice(i * perStep, (i + 1) * perStep));
    if (steps.length !== recorded.length) this.notes.push(`epoch ${epoch}: ${recorded.length} generator steps recorded, ${steps.length} replayed`);
    for (const [step, groups] of steps.entries()) {
      const batches = await Promise.all(groups.map(async (g) => ({ rollouts: g.rows, ...(await this.policy.embed(g.rows.map((r) => r.prompt))) })));
      const stats = await this.policy.learner.step(batches);
      const where = { epoch, step };
      for (const [name, v] of Object.entries(stats)) this.compare.add(`generator.${name}`, where, recorded[step]?.metrics[name] ?? NaN, v);
      // The first step of an epoch samples and learns with the same weights: its ratio must be exactly 1.
      // (GRPO only: the forward-process objectives have no ratio.)
      if (step === 0 && "ratioMin" in stats) this.compare.add("generator.onPolicyRatio", where, new Float32Array([1, 1]), new Float32Array([stats.ratioMin, stats.ratioMax]));
    }
  }

  async epoch(epoch: number, rows: readonly RecordedRollout[], complete: boolean, group: number | undefined): Promise<void> {
    const groups = groupsOf(rows);
    const selected = (r: RecordedRollout) => group === undefined || r.groupId === group;
    const imagesRecorded = rows.every((r) => r.png.length > 0);
    if (!imagesRecorded) this.notes.push(`epoch ${epoch}: images were not recorded (record.storeImages: false): features, rewards and steps not replayed`);
    const scorable = imagesRecorded && (await this.startOf(epoch));
    const replayed: ReplayedGroup[] = [];
    if (scorable) for (const g of groups.filter((g) => selected(g[0]!))) replayed.push(await this.scoreGroup(g));
    if (!complete) {
      this.notes.push(`epoch ${epoch}: only ${rows.length} rows survive in the log (cut short): advantages and steps not replayed`);
      return;
    }
    this.advantages(groups, selected);
    if (!scorable) return;
    if (group !== undefined) {
      this.notes.push(`epoch ${epoch}: optimiser steps need the whole epoch; not replayed for one group`);
      return;
    }
    await this.discriminatorStep(epoch, replayed);
    await this.learnerSteps(epoch, replayed);
  }
}

/** Replays the run at `root` (a run folder) and compares; rows of an epoch cut short by a truncated log are replayed as far as they go. */
export const replayRun = async (root: string, options: ReplayOptions = {}): Promise<ReplayReport> => {
  const tolerance = options.tolerance ?? 0;
  const records = readRunRecords(root);
  const config = await readConfig(records);
  const byEpoch = new Map<number, RecordedRollout[]>();
  for (const row of records.log.rows) byEpoch.set(row.epoch, [...(byEpoch.get(row.epoch) ?? []), row]);
  const lastEpoch = Math.max(-1, ...byEpoch.keys());
  const fullEpoch = config.sampler.promptsPerEpoch * config.sampler.groupSize;
  // Rows are recorded an epoch at a time, so an epoch followed by a later one is whole; the last may be cut.
  const complete = (epoch: number) => epoch < lastEpoch || byEpoch.get(epoch)!.length === fullEpoch;
  const epochs = [...byEpoch.keys()].filter((e) => options.epoch === undefined || e === options.epoch);
  if (options.epoch !== undefined && epochs.length === 0) {
    throw new RunFolderError({ folder: root, reason: `the rollout log has no rows of epoch ${options.epoch} (it holds epochs ${[...byEpoch.keys()].join(", ") || "none"})` });
  }

  const selectedRows = (e: number) => byEpoch.get(e)!.filter((r) => options.group === undefined || r.groupId === options.group).length;
  const rows = epochs.reduce((n, e) => n + selectedRows(e), 0);
  if (options.group !== undefined && rows === 0) {
    throw new RunFolderError({ folder: root, reason: `the rollout log has no rows of group ${options.group}${options.epoch === undefined ? "" : ` in epoch ${options.epoch}`}` });
  }

  const replayer = await withRun(buildRun(config), async ({ policy, rewards }) => {
    const replayer = new Replayer({ records, config, policy, rewards, tolerance });
    for (const epoch of epochs) {
      options.progress?.(`replaying epoch ${epoch}`);
      await replayer.epoch(epoch, byEpoch.get(epoch)!, complete(epoch), options.group);
    }
    return replayer;
  });
  const columns = replayer.compare.report();
  // A float16 log holds the learner's latents rounded, so its optimiser steps cannot come out bit for bit.
  const rounded = records.log.metadata.latentDtype === "float16" ? ["latents were recorded as float16 (record.latentDtype): optimiser steps replay from rounded latents and differ slightly; compare them with --tolerance"] : [];
  return { root, tolerance, epochs, rows, columns, notes: [...records.warnings, ...rounded, ...replayer.notes], differs: columns.some((c) => c.differing > 0) };
};

const where = (w: Where) => ("step" in w ? `epoch ${w.epoch} step ${w.step}` : `epoch ${w.epoch} group ${w.group} member ${w.member}`);
const num = (x: number) => (Number.isInteger(x) || !Number.isFinite(x) ? String(x) : x.toPrecision(8));

export const formatReplayReport = (report: ReplayReport): string => {
  const table = formatTable(
    ["column", "compared", "differing", "max |diff|", "first differing", "recorded", "recomputed"],
    report.columns.map((c) => [
      c.column,
      String(c.compared),
      String(c.differing),
      c.maxAbsDiff === 0 ? "0" : c.maxAbsDiff.toExponential(2),
      c.first ? where(c.first.where) : "-",
      c.first ? num(c.first.recorded) : "-",
      c.first ? num(c.first.recomputed) : "-",
    ]),
  );
  const verdict = report.differs
    ? `DIFFERS: ${report.columns.filter((c) => c.differing > 0).length} columns beyond tolerance ${report.tolerance}`
    : `identical within tolerance ${report.tolerance}`;
  return [`replay of ${report.root}: epochs ${report.epochs.join(", ")}, ${report.rows} rows`, ...report.notes.map((n) => `note: ${n}`), "", table, "", verdict].join("\n");
};
