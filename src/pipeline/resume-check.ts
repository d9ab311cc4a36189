/**
 * What a resume may rely on, verified before anything is cut or loaded. A checkpoint records the byte
 * lengths of the rollout and metrics logs at its epoch's end; resuming cuts both back to those lengths and
 * repeats what came after. That is only sound when the checkpoint is intact (its tensor hashes match) and
 * the logs still hold every byte up to those lengths, ending on a record boundary with the rows it counted.
 *
 * So checkpoints are tried newest first. One that is damaged, or that the logs no longer cover, is set
 * aside (renamed `*.damaged`, so pruning and later resumes pass over it) and the next older one is tried:
 * the lost epochs are re-run from it. When none is usable the resume refuses, saying what is damaged and
 * what to do. A log is never extended: missing bytes are never replaced by zeros. Every rollout batch a
 * checkpoint covers must pass its checksum, so a flipped bit inside a batch also sends the resume back to
 * the newest checkpoint from before that batch.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { Schema } from "effect";
import { RolloutLogBatchDamaged } from "../io/rollout-log/errors.ts";
import { indexStream, verifyIndexedBatch } from "../io/rollout-log/ipc-stream.ts";
import { loadTrainingState, requireMetadata, TrainingStateDamaged, type TrainingState } from "../io/training-state.ts";
import { SafetensorsIoError } from "../io/safetensors.ts";
import { METRICS_FILE } from "../report/metrics-log.ts";
import { listCheckpoints, type RunFolder, RunFolderError } from "./run-folder.ts";
import { processAlive } from "./run-lock.ts";

interface UsableCheckpoint {
  readonly file: string;
  readonly startEpoch: number;
  readonly state: TrainingState;
}

class ResumeRefused extends Schema.TaggedError<ResumeRefused>()("ResumeRefused", {
  root: Schema.String,
  problems: Schema.Array(Schema.String),
}) {
  override get message() {
    return [
      `cannot resume ${this.root} without inventing data; no checkpoint is both intact and covered by the logs:`,
      ...this.problems.map((p) => `  - ${p}`),
      "Restore the damaged files from a backup and resume again, or start a new run (another run.name); the intact part of the logs stays readable with `advgrpo inspect`.",
    ].join("\n");
  }
}

/** Whether the log holds exactly `rows` rows in complete record batches ending at byte `bytes`; undefined when it does. */
const rolloutLogCoverageProblem = (file: string, bytes: number, rows: number): string | undefined => {
  if (!existsSync(file)) return `${file} is missing`;
  const size = statSync(file).size;
  if (size < bytes) return `${file} holds ${size} bytes, fewer than the ${bytes} the checkpoint recorded (the log lost its end)`;
  const fd = openSync(file, "r");
  try {
    const index = indexStream(file, fd);
    let end = index.schemaMessage.offset + index.schemaMessage.length;
    let counted = 0;
    for (const [i, batch] of index.batches.entries()) {
      if (end >= bytes) break;
      verifyIndexedBatch(fd, index, i);
      const last = batch.messages.at(-1)!;
      end = last.offset + last.length;
      counted += batch.rows;
    }
    if (end !== bytes) {
      return index.completeBytes < bytes
        ? `${file} is readable only up to byte ${index.completeBytes} (${index.damaged?.message ?? index.incompleteTail}), before the ${bytes} the checkpoint recorded`
        : `${file} has no record-batch boundary at byte ${bytes}, where the checkpoint says its epoch ended`;
    }
    if (counted !== rows) return `${file} holds ${counted} rows before byte ${bytes}, the checkpoint recorded ${rows}`;
    return undefined;
  } catch (error) {
    return error instanceof RolloutLogBatchDamaged ? error.message : `${file} is unreadable (${(error as Error).message})`;
  } finally {
    closeSync(fd);
  }
};

/** Whether the metrics log holds `bytes` bytes of complete JSON lines; undefined when it does. */
const metricsLogCoverageProblem = (file: string, bytes: number): string | undefined => {
  if (bytes === 0) return undefined;
  if (!existsSync(file)) return `${file} is missing`;
  const text = readFileSync(file);
  if (text.length < bytes) return `${file} holds ${text.length} bytes, fewer than the ${bytes} the checkpoint recorded (the log lost its end)`;
  const lines = text.subarray(0, bytes).toString("utf8").split("\n");
  if (lines.at(-1) !== "") return `${file} has no line end at byte ${bytes}, where the checkpoint says its epoch ended`;
  const bad = lines.slice(0, -1).findIndex((line) => {
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
  return bad >= 0 ? `${file} line ${bad + 1} is not a JSON record (the log is damaged before the checkpoint's end)` : undefined;
};

/** Removes `*.partial-<pid>` files a kill or a full disk left mid-write; returns their names. */
const removeLeftoverPartials = (folder: RunFolder): string[] => {
  if (!existsSync(folder.checkpoints)) return [];
  const leftovers = readdirSync(folder.checkpoints).filter((name) => {
    const pid = /\.partial-(\d+)$/.exec(name)?.[1];
    return pid !== undefined && (Number(pid) === process.pid || !processAlive(Number(pid)));
  });
  for (const name of leftovers) unlinkSync(join(folder.checkpoints, name));
  return leftovers;
};

/** Why this checkpoint cannot be resumed from, or undefined; a different configuration is not a damage but a refusal. */
const coverageProblem = (folder: RunFolder, file: string, state: TrainingState): string | undefined =>
  rolloutLogCoverageProblem(folder.rollouts, Number(requireMetadata(state, file, "rolloutLogBytes")), Number(requireMetadata(state, file, "rolloutRows"))) ??
  metricsLogCoverageProblem(join(folder.root, METRICS_FILE), Number(requireMetadata(state, file, "metricsBytes")));

/**
 * The newest checkpoint that is intact and covered by the logs, after setting aside newer ones that are not
 * (each reported through `notice`); undefined when the folder has no checkpoint; ResumeRefused when it has
 * some but none is usable.
 */
export const newestUsableCheckpoint = async (folder: RunFolder, configJson: string, notice: (line: string) => void): Promise<UsableCheckpoint | undefined> => {
  for (const name of removeLeftoverPartials(folder)) notice(`removed ${join(folder.checkpoints, name)}, a checkpoint a stopped run left half-written`);
  const candidates = listCheckpoints(folder).reverse();
  const problems: string[] = [];
  for (const file of candidates) {
    let state: TrainingState;
    try {
      state = await loadTrainingState(file, { requireHashes: true });
    } catch (error) {
      if (!(error instanceof TrainingStateDamaged || error instanceof SafetensorsIoError)) throw error;
      problems.push(error.message);
      continue;
    }
    if (requireMetadata(state, file, "config") !== configJson) {
      throw new RunFolderError({ folder: folder.root, reason: `${file}: the run was started with a different pipeline configuration; resume with the same file, or choose another run.name` });
    }
    const problem = coverageProblem(folder, file, state);
    if (problem !== undefined) {
      problems.push(`${file} cannot be resumed: ${problem}`);
      continue;
    }
    const epoch = Number(requireMetadata(state, file, "epoch"));
    if (problems.length > 0) {
      for (const skipped of candidates.slice(0, candidates.indexOf(file))) renameSync(skipped, `${skipped}.damaged`);
      notice(`resuming from ${file} (after epoch ${epoch + 1}) and re-running the epochs after it, because:\n  - ${problems.join("\n  - ")}\n  (set aside as *.damaged)`);
    }
    return { file, startEpoch: epoch + 1, state };
  }
  if (candidates.length > 0) throw new ResumeRefused({ root: folder.root, problems });
  return undefined;
};

/** Cuts a log back to `bytes`; never extends it (the checkpoint's coverage was verified first). */
export const cutBack = (file: string, bytes: number): void => {
  const size = existsSync(file) ? statSync(file).size : 0;
  if (size < bytes) throw new Error(`internal: ${file} holds ${size} bytes, fewer than the ${bytes} it would be cut back to`);
  truncateSync(file, bytes);
};
