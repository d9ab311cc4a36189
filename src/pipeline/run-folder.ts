/** Where a run keeps its files: `<run.outputDir>/<run.name>/`. */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Schema } from "effect";
import type { PipelineConfig } from "./config/schema.ts";

export interface RunFolder {
  readonly root: string;
  readonly rollouts: string;
  readonly checkpoints: string;
  readonly grids: string;
  readonly report: string;
  readonly config: string;
}

export const runFolder = (root: string): RunFolder => ({
  root,
  rollouts: join(root, "rollouts.arrows"),
  checkpoints: join(root, "checkpoints"),
  grids: join(root, "grids"),
  report: join(root, "report.html"),
  config: join(root, "pipeline.json"),
});

export const runFolderOf = (config: PipelineConfig): RunFolder => runFolder(join(config.run.outputDir, config.run.name));

export const createRunFolder = (folder: RunFolder): void => {
  mkdirSync(folder.checkpoints, { recursive: true });
  mkdirSync(folder.grids, { recursive: true });
};

export const checkpointFile = (folder: RunFolder, epoch: number): string => join(folder.checkpoints, `epoch-${String(epoch).padStart(4, "0")}.safetensors`);

/** Checkpoint files, oldest first; none before the folder has any. */
export const listCheckpoints = (folder: RunFolder): string[] => {
  // Only a missing folder means "none": an unreadable one must not make a resume start over.
  if (!existsSync(folder.checkpoints)) return [];
  return readdirSync(folder.checkpoints)
    .filter((f) => /^epoch-\d+\.safetensors$/.test(f))
    .sort()
    .map((f) => join(folder.checkpoints, f));
};

/** A run folder that is not there or lacks what is asked of it. */
export class RunFolderError extends Schema.TaggedError<RunFolderError>()("RunFolderError", {
  folder: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.folder}: ${this.reason}`;
  }
}
