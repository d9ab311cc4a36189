/**
 * The end-of-epoch checkpoint: the models' state (src/pipeline/state.ts) plus what a resume needs to cut the
 * logs back to this point (their byte lengths) and to refuse another configuration; older checkpoints beyond
 * `run.keepCheckpoints` are deleted. An imported generator's adapters are also written in peft naming
 * (src/pipeline/lora-export.ts).
 */
import { existsSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { saveTrainingState } from "../io/training-state.ts";
import { METRICS_FILE } from "../report/metrics-log.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";
import { writeLoraFile } from "./lora-export.ts";
import { checkpointFile, listCheckpoints, type RunFolder } from "./run-folder.ts";
import { captureState } from "./state.ts";

const fileSize = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

interface CheckpointContext {
  readonly folder: RunFolder;
  readonly policy: Policy;
  readonly rewards: RewardModel;
  readonly configJson: string;
  /** Checkpoints kept (0: all). */
  readonly keep: number;
}

export const writeCheckpoint = async (c: CheckpointContext, epoch: number, rolloutRows: number): Promise<void> => {
  await saveTrainingState(
    checkpointFile(c.folder, epoch),
    captureState(c.policy, c.rewards, {
      epoch: String(epoch),
      config: c.configJson,
      rolloutLogBytes: String(fileSize(c.folder.rollouts)),
      rolloutRows: String(rolloutRows),
      metricsBytes: String(fileSize(join(c.folder.root, METRICS_FILE))),
    }),
  );
  writeLoraFile(c.folder, c.policy);
  if (c.keep > 0) for (const old of listCheckpoints(c.folder).slice(0, -c.keep)) unlinkSync(old);
};
