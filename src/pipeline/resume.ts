/**
 * How a run starts in its folder: fresh (refusing to write over another run), or from its latest checkpoint,
 * with the rollout and metrics logs cut back to the lengths that checkpoint recorded. What was written after
 * the checkpoint belongs to the epoch a kill interrupted, which the resumed run repeats.
 */
import { existsSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { loadTrainingState, requireMetadata, type TrainingState } from "../io/training-state.ts";
import { METRICS_FILE } from "../report/metrics-log.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";
import { listCheckpoints, type RunFolder } from "./run-folder.ts";
import { applyState } from "./state.ts";

export interface Resumed {
  /** The checkpoint file the run continues from. */
  readonly file: string;
  readonly startEpoch: number;
  readonly state: TrainingState;
}

const latestCheckpoint = async (folder: RunFolder): Promise<Resumed | undefined> => {
  const file = listCheckpoints(folder).at(-1);
  if (!file) return undefined;
  const state = await loadTrainingState(file);
  return { file, startEpoch: Number(requireMetadata(state, file, "epoch")) + 1, state };
};

/**
 * The checkpoint a run continues from, or undefined for a fresh start. A fresh start refuses a folder that
 * already holds a run unless resuming was asked for; a run killed before its first checkpoint is started over.
 */
export const startingPoint = async (folder: RunFolder, resume: boolean): Promise<Resumed | undefined> => {
  const resumed = resume ? await latestCheckpoint(folder) : undefined;
  if (existsSync(folder.rollouts) && !resumed) {
    if (!resume) throw new Error(`${folder.root} already holds a run; resume it with --resume (or run.resume: true), or choose another run.name`);
    // Killed before its first checkpoint: what it wrote belongs to the unfinished first epoch.
    for (const file of [folder.rollouts, join(folder.root, METRICS_FILE)]) rmSync(file, { force: true });
  }
  return resumed;
};

/** Loads the checkpoint into the models (same configuration only) and cuts both logs back to it. */
export const restore = (resumed: Resumed, policy: Policy, rewards: RewardModel, folder: RunFolder, configJson: string): void => {
  const { file, state } = resumed;
  if (requireMetadata(state, file, "config") !== configJson) {
    throw new Error(`${file}: the run was started with a different pipeline configuration; resume with the same file, or choose another run.name`);
  }
  applyState(state, file, policy, rewards);
  truncateSync(folder.rollouts, Number(requireMetadata(state, file, "rolloutLogBytes")));
  truncateSync(join(folder.root, METRICS_FILE), Number(requireMetadata(state, file, "metricsBytes")));
};
