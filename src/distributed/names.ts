/**
 * Every JetStream name of a run, derived from run.name so that runs sharing a server never meet. Stream and
 * bucket names allow only [A-Za-z0-9_-]; a run name with other characters is mapped onto them and a short
 * hash of the exact name keeps two names that map alike apart.
 */
import { createHash } from "node:crypto";

export interface RunNames {
  /** Work-queue stream of group tasks and its subject. */
  readonly taskStream: string;
  readonly taskSubject: string;
  /** Durable pull consumer every worker of the run shares. */
  readonly taskConsumer: string;
  /** Stream of scored groups (Arrow IPC) and its subject. */
  readonly rolloutStream: string;
  readonly rolloutSubject: string;
  /** Object store of weight snapshots and of groups too large for one message. */
  readonly objectBucket: string;
  /** KV bucket: the run's config hash and its newest weights. */
  readonly kvBucket: string;
}

export const runNames = (runName: string): RunNames => {
  const safe = runName.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 48);
  const tag = `${safe}-${createHash("sha256").update(runName).digest("hex").slice(0, 8)}`;
  return {
    taskStream: `advgrpo-${tag}-tasks`,
    taskSubject: `advgrpo.${tag}.tasks`,
    taskConsumer: "workers",
    rolloutStream: `advgrpo-${tag}-rollouts`,
    rolloutSubject: `advgrpo.${tag}.rollouts`,
    objectBucket: `advgrpo-${tag}-objects`,
    kvBucket: `advgrpo-${tag}-state`,
  };
};
