/**
 * A run that cannot go on for a reason outside it (its NATS server stayed away past
 * distributed.outageTimeout) stops cleanly instead of failing: the newest checkpoint is verified exactly as a
 * resume would verify it and both logs are cut back to it, so the folder holds the completed epochs and
 * nothing of the interrupted one, and `--resume` continues from there.
 */
import { requireMetadata } from "../io/training-state.ts";
import { cutLogsBack } from "./resume.ts";
import { newestUsableCheckpoint } from "./resume-check.ts";
import type { RunFolder } from "./run-folder.ts";

interface Suspended {
  /** Epochs the kept checkpoint covers (0 when the first epoch never completed). */
  readonly epochsCompleted: number;
  readonly rolloutRows: number;
  /** What the user is told: why, what was kept, how to continue. */
  readonly reason: string;
}

export const suspendAtCheckpoint = async (folder: RunFolder, configJson: string, cause: Error, notice: (line: string) => void): Promise<Suspended> => {
  const kept = await newestUsableCheckpoint(folder, configJson, notice);
  if (!kept) {
    return { epochsCompleted: 0, rolloutRows: 0, reason: `${cause.message}; stopped before the first epoch completed (no checkpoint): --resume starts the run over` };
  }
  cutLogsBack(kept, folder);
  return {
    epochsCompleted: kept.startEpoch,
    rolloutRows: Number(requireMetadata(kept.state, kept.file, "rolloutRows")),
    reason: `${cause.message}; stopped with the verified checkpoint of epoch ${kept.startEpoch} (${kept.file}), logs cut back to it; continue with --resume once the server is back`,
  };
};
