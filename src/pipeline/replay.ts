/**
 * `advgrpo replay`: feeds a run's recorded rollouts back through the same stage operators the run used
 * (epoch-stages.ts), on ports backed by the recorded rows (replay-ports.ts) and the models as they were when
 * each epoch started, and compares every recomputed value with the recorded one:
 *
 *   recorded rows -> features -> rewards (compared; the recorded ones flow on)  -> groups -> advantages (compared)
 *                 -> discriminator step | generator steps (compared with metrics.jsonl)
 *
 * The state an epoch started from is the checkpoint written at the end of the epoch before it (for epoch 0 the
 * freshly built models: pretrained generator, discriminator initialised from run.seed), so a replay of the same
 * build reproduces the run bit for bit and any difference points at the first row where it arose.
 */
import { existsSync, readFileSync } from "node:fs";
import { Effect, Schema } from "effect";
import { from, ignoreElements, lastValueFrom, type Observable, tap } from "rxjs";
import type { RecordedRollout } from "../io/rollout-log/index.ts";
import { loadTrainingState, type TrainingState } from "../io/training-state.ts";
import type { ScoredRollout } from "../rollout/rollout.ts";
import { type AdvantagedEpoch, isFailedMember, keyOf, type Member } from "../stages/types.ts";
import { rolloutPorts, StageClock, stepPorts } from "./adapters.ts";
import { buildRun, type RunModels, withRun } from "./compose.ts";
import { decodePipelineConfig } from "./config/load.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { advantagedEpoch, optimiserPhase, scoredRollouts } from "./epoch-stages.ts";
import { formatTable, groupsOf, readRunRecords, type RunRecords } from "./inspect.ts";
import { type ColumnReport, Comparison, type Where } from "./replay-comparison.ts";
import { recordedPorts, rowAt } from "./replay-ports.ts";
import { checkpointFile, RunFolderError } from "./run-folder.ts";
import { applyState, captureState, headsTrainedIn } from "./state.ts";

interface ReplayOptions {
  /** Only this epoch. */
  readonly epoch?: number;
  /** Only this group's rows (optimiser steps, which need the whole epoch, are then not replayed). */
  readonly group?: number;
  /** Largest absolute difference still counted as equal; default 0 (exact). */
  readonly tolerance?: number;
  /** Called before the first epoch (0 done) and after each, with the count of epochs to replay. */
  readonly epochsDone?: (done: number, total: number) => void;
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

const readConfig = async (records: RunRecords): Promise<PipelineConfig> => {
  const { folder } = records;
  const [text, source] = existsSync(folder.config) ? [readFileSync(folder.config, "utf8"), folder.config] : [records.log.metadata.pipelineConfig, `${folder.rollouts} metadata`];
  return Effect.runPromise(decodePipelineConfig(JSON.parse(text), source));
};

/** A failed port call ends the replay with its cause: a run that recorded the rows did not fail there. */
const rowOrThrow = <R>(item: Member<R>): R => {
  if (isFailedMember(item)) throw item.cause;
  return item;
};

class Replayer {
  readonly compare: Comparison;
  readonly notes: string[] = [];
  private readonly records: RunRecords;
  private readonly models: RunModels;
  private readonly initial: TrainingState;

  constructor(records: RunRecords, models: RunModels, tolerance: number) {
    this.records = records;
    this.models = models;
    this.initial = captureState(models.policy, models.rewards);
    this.compare = new Comparison(tolerance);
  }

  /** Restores the state epoch `epoch` started from; false (with a note) when its checkpoint is gone. */
  private async startOf(epoch: number): Promise<boolean> {
    const { policy, rewards } = this.models;
    if (epoch === 0) {
      applyState(this.initial, "the initial state", policy, rewards);
      return true;
    }
    const file = checkpointFile(this.records.folder, epoch - 1);
    if (!existsSync(file)) {
      this.notes.push(`epoch ${epoch}: no checkpoint ${file} (pruned by run.keepCheckpoints?): rewards and steps not replayed, only advantages`);
      return false;
    }
    applyState(await loadTrainingState(file), file, policy, rewards);
    return true;
  }

  /** The epoch's optimiser steps through the run's own phase operator, compared with metrics.jsonl. */
  private steps(epoch: number): (batches: Observable<AdvantagedEpoch>) => Observable<unknown> {
    const { config, rewards } = this.models;
    const recordedSteps = this.records.metrics.filter((r) => r.kind === "generator" && r.epoch === epoch);
    const recordedD = this.records.metrics.find((r) => r.kind === "discriminator" && r.epoch === epoch);
    const ports = stepPorts({ ...this.models, trainedHeads: (e) => headsTrainedIn(config, rewards, e), clock: new StageClock() });
    let replayedSteps = 0;
    return (batches) =>
      batches.pipe(
        optimiserPhase(config, ports, epoch),
        tap({
          next: (report) => {
            if (report.kind === "discriminator") {
              for (const [name, v] of Object.entries(report.stats)) this.compare.add(`discriminator.${name}`, { epoch, step: 0 }, recordedD?.metrics[name] ?? NaN, v);
              return;
            }
            replayedSteps++;
            const where = { epoch, step: report.step };
            for (const [name, v] of Object.entries(report.stats)) this.compare.add(`generator.${name}`, where, recordedSteps[report.step]?.metrics[name] ?? NaN, v);
            // The first step of an epoch learns with the weights that sampled it: its ratio must be exactly 1. Not so
            // when the rows were sampled ahead (learner.maxPolicyLag >= 1): metrics.jsonl records each step's lag.
            // (GRPO only: the forward-process objectives have no ratio.)
            const onPolicy = (recordedSteps[report.step]?.metrics.policyLag ?? 0) === 0;
            if (report.step === 0 && onPolicy && "ratioMin" in report.stats) this.compare.add("generator.onPolicyRatio", where, new Float32Array([1, 1]), new Float32Array([report.stats.ratioMin!, report.stats.ratioMax!]));
          },
          complete: () => {
            if (replayedSteps !== recordedSteps.length) this.notes.push(`epoch ${epoch}: ${recordedSteps.length} generator steps recorded, ${replayedSteps} replayed`);
          },
        }),
      );
  }

  async epoch(epoch: number, rows: readonly RecordedRollout[], complete: boolean, group: number | undefined): Promise<void> {
    const { config } = this.models;
    const selected = (r: { readonly groupId: number }) => group === undefined || r.groupId === group;
    const imagesRecorded = rows.every((r) => r.png.length > 0);
    if (!imagesRecorded) this.notes.push(`epoch ${epoch}: images were not recorded (record.storeImages: false): features, rewards and steps not replayed`);
    const scorable = imagesRecorded && (await this.startOf(epoch));
    const ports = recordedPorts(rolloutPorts({ ...this.models, clock: new StageClock() }), { rows, checked: (r) => scorable && selected(r), resample: this.records.log.metadata.latentDtype === "none", compare: this.compare });
    const ordered = groupsOf(rows).flat();
    const scored = from(ordered.map(keyOf)).pipe(scoredRollouts(ports, config.sampler.groupSize, 1), tap(rowOrThrow<ScoredRollout>));
    if (!complete) {
      this.notes.push(`epoch ${epoch}: only ${rows.length} rows survive in the log (cut short): advantages and steps not replayed`);
      await lastValueFrom(scored.pipe(ignoreElements()), { defaultValue: undefined });
      return;
    }
    const recordedAdvantage = new Map(rows.map((r) => [`${r.groupId}/${r.member}`, r.advantage]));
    const advantaged = scored.pipe(
      advantagedEpoch(config, epoch, "fail"),
      tap((batch) => {
        for (const row of batch.groups.flat()) if (selected(row)) this.compare.add("advantage", rowAt(row), recordedAdvantage.get(`${row.groupId}/${row.member}`)!, row.advantage);
      }),
    );
    const stepsRecorded = this.records.metrics.some((r) => (r.kind === "generator" || r.kind === "discriminator") && r.epoch === epoch);
    const stepsReplayed = scorable && group === undefined && stepsRecorded;
    if (scorable && group !== undefined) this.notes.push(`epoch ${epoch}: optimiser steps need the whole epoch; not replayed for one group`);
    else if (scorable && !stepsRecorded) this.notes.push(`epoch ${epoch}: metrics.jsonl holds none of its optimiser steps (the run stopped before them?): steps not replayed`);
    await lastValueFrom((stepsReplayed ? advantaged.pipe(this.steps(epoch)) : advantaged).pipe(ignoreElements()), { defaultValue: undefined });
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

  const replayer = await withRun(buildRun(config), async (models) => {
    const replayer = new Replayer(records, models, tolerance);
    options.epochsDone?.(0, epochs.length);
    for (const [i, epoch] of epochs.entries()) {
      await replayer.epoch(epoch, byEpoch.get(epoch)!, complete(epoch), options.group);
      options.epochsDone?.(i + 1, epochs.length);
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
