/**
 * Prompt-group tasks on the run's work-queue stream. The learner publishes one task per group with a
 * message id of (run instance, epoch, group, attempt): JetStream drops a re-issue of the same attempt within
 * its duplicate window (a learner that restarts re-issues what it cannot account for), a deliberate re-issue
 * (a refused or unreadable result) takes the next attempt, and the instance, drawn when a run starts from
 * scratch, keeps a new run of the same name from being mistaken for the old one's duplicates. Workers pull with an explicit-ack consumer, so a
 * task whose worker dies is delivered again after the ack deadline.
 */
import { Schema } from "effect";
import type { RunBus } from "./bus.ts";
import { TaskInvalid } from "./errors.ts";

const Key = Schema.Struct({
  runId: Schema.String,
  epoch: Schema.Int,
  policyVersion: Schema.Int,
  prompt: Schema.String,
  promptIndex: Schema.Int,
  groupId: Schema.Int,
  member: Schema.Int,
  seed: Schema.Number,
});

export const GroupTask = Schema.Struct({
  /** Hash of the learner's pipeline; a worker with another pipeline refuses the run. */
  configHash: Schema.String,
  /** Drawn when the run started from scratch; kept across resumes. */
  instance: Schema.String,
  epoch: Schema.Int,
  groupId: Schema.Int,
  attempt: Schema.Int,
  /** Object-store name of the weight snapshot to sample and score with. */
  weights: Schema.String,
  keys: Schema.NonEmptyArray(Key),
});
export type GroupTask = typeof GroupTask.Type;

const decodeTask = Schema.decodeUnknownSync(Schema.fromJsonString(GroupTask));

export const taskId = (task: Pick<GroupTask, "instance" | "epoch" | "groupId" | "attempt">): string => `${task.instance}.${task.epoch}.${task.groupId}.${task.attempt}`;

export const publishTask = async (bus: RunBus, task: GroupTask): Promise<void> => {
  await bus.js.publish(bus.names.taskSubject, JSON.stringify(task), { msgID: taskId(task) });
};

export const parseTask = (subject: string, data: Uint8Array): GroupTask => {
  try {
    return decodeTask(new TextDecoder().decode(data));
  } catch (e) {
    throw new TaskInvalid({ subject, reason: (e as Error).message });
  }
};
