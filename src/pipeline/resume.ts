/**
 * How a run starts in its folder: fresh (refusing to write over another run), or from its latest checkpoint,
 * with the rollout and metrics logs cut back to the lengths that checkpoint recorded. What was written after
 * the checkpoint belongs to the epoch a kill interrupted, which the resumed run repeats.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { requireMetadata, type TrainingState } from "../io/training-state.ts";
import { METRICS_FILE } from "../report/metrics-log.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";
import { cutBack, newestUsableCheckpoint } from "./resume-check.ts";
import { type RunFolder, RunFolderError } from "./run-folder.ts";
import { applyState } from "./state.ts";

export interface Resumed {
  /** The checkpoint file the run continues from. */
  readonly file: string;
  readonly startEpoch: number;
  readonly state: TrainingState;
}

/**
 * The checkpoint a run continues from, or undefined for a fresh start. A fresh start refuses a folder that
 * already holds a run unless resuming was asked for; a run killed before its first checkpoint is started over.
 * A resume takes the newest checkpoint that is intact and covered by the logs (resume-check.ts).
 */
export const startingPoint = async (folder: RunFolder, resume: boolean, configJson: string, notice: (line: string) => void): Promise<Resumed | undefined> => {
  const resumed = resume ? await newestUsableCheckpoint(folder, configJson, notice) : undefined;
  if (existsSync(folder.rollouts) && !resumed) {
    if (!resume) throw new RunFolderError({ folder: folder.root, reason: "already holds a run; resume it with --resume (or run.resume: true), or choose another run.name" });
    // Killed before its first checkpoint: what it wrote belongs to the unfinished first epoch.
    for (const file of [folder.rollouts, join(folder.root, METRICS_FILE)]) rmSync(file, { force: true });
  }
  return resumed;
};

/** Cuts the rollout and metrics logs back to the lengths a verified checkpoint recorded (never extending them). */
export const cutLogsBack = ({ file, state }: Resumed, folder: RunFolder): void => {
  cutBack(folder.rollouts, Number(requireMetadata(state, file, "rolloutLogBytes")));
  cutBack(join(folder.root, METRICS_FILE), Number(requireMetadata(state, file, "metricsBytes")));
};

/** Loads the checkpoint into the models and cuts both logs back to it. */
export const restore = (resumed: Resumed, policy: Policy, rewards: RewardModel, folder: RunFolder): void => {
  applyState(resumed.state, resumed.file, policy, rewards);
  cutLogsBack(resumed, folder);
};
