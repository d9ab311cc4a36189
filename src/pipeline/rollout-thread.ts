/**
 * The sampling thread of a single-process run with learner.maxPolicyLag >= 1 (thread-rollouts.ts): its own
 * models, built from the same pipeline, sample, featurise and score group tasks one after another with the
 * weights each task names, while the main thread learns. Protocol:
 *   in   workerData { config }
 *        { kind: "weights", epoch, version, sets }   the learner's weights when `epoch` started, and its policy version
 *        { kind: "checkpoint", epoch, file }  ... read from the checkpoint that ended epoch - 1 (a resume)
 *        { kind: "task", epoch, groupId, weights, keys }   weights: the snapshot's epoch
 *        { kind: "forget", before }           snapshots of earlier epochs are never named again
 *        { kind: "stop" }                     finish the group in progress, drop the rest, exit
 *   out  { kind: "group", epoch, groupId, rows } or { kind: "failed", epoch, groupId, message }
 * Epoch 0's weights are the ones the thread builds (initialisation is seeded by the pipeline). Rows carry the
 * policy version of the weights that sampled them (optimiser steps; a checkpoint's is its optimiser's).
 */
import { parentPort, workerData } from "node:worker_threads";
import { applyWeights, workerWeightSets } from "../distributed/worker.ts";
import type { WeightSets } from "../distributed/weights.ts";
import { loadTrainingState } from "../io/training-state.ts";
import type { RolloutKey } from "../rollout/rollout.ts";
import { rolloutPorts, StageClock } from "./adapters.ts";
import { buildRun, withRun } from "./compose.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { scoreGroup } from "./epoch-stages.ts";
import { applyState } from "./state.ts";

export type ThreadMessage =
  | { readonly kind: "weights"; readonly epoch: number; readonly version: number; readonly sets: WeightSets }
  | { readonly kind: "checkpoint"; readonly epoch: number; readonly file: string }
  | { readonly kind: "task"; readonly epoch: number; readonly groupId: number; readonly weights: number; readonly keys: readonly RolloutKey[] }
  | { readonly kind: "forget"; readonly before: number }
  | { readonly kind: "stop" };

type Snapshot = { readonly sets: WeightSets; readonly version: number } | { readonly file: string };

const { config } = workerData as { config: PipelineConfig };
const port = parentPort!;

await withRun(buildRun(config), async (models) => {
  const { policy, rewards } = models;
  const ports = rolloutPorts({ ...models, clock: new StageClock() });
  const copy = (sets: WeightSets): WeightSets => Object.fromEntries(Object.entries(sets).map(([k, params]) => [k, params.map((p) => ({ ...p, data: p.data.slice() }))]));
  const snapshots = new Map<number, Snapshot>([[0, { sets: copy(workerWeightSets(policy, rewards)), version: 0 }]]);
  let loaded: number | undefined;
  let version = 0;
  const tasks: Extract<ThreadMessage, { kind: "task" }>[] = [];
  let stopping = false;
  let wake: (() => void) | undefined;

  port.on("message", (m: ThreadMessage) => {
    if (m.kind === "weights") snapshots.set(m.epoch, { sets: m.sets, version: m.version });
    else if (m.kind === "checkpoint") snapshots.set(m.epoch, { file: m.file });
    else if (m.kind === "forget") {
      for (const epoch of snapshots.keys()) if (epoch < m.before) snapshots.delete(epoch);
    }
    else if (m.kind === "task") tasks.push(m);
    else stopping = true;
    wake?.();
  });

  const use = async (epoch: number) => {
    if (loaded === epoch) return;
    const snapshot = snapshots.get(epoch);
    if (!snapshot) throw new Error(`internal: the sampling thread has no weights of epoch ${epoch}`);
    if ("sets" in snapshot) {
      applyWeights(snapshot.sets, `weights of epoch ${epoch}`, policy, rewards);
      version = snapshot.version;
    } else {
      applyState(await loadTrainingState(snapshot.file, { requireHashes: true }), snapshot.file, policy, rewards);
      version = policy.optimizer.stepCount;
    }
    loaded = epoch;
  };

  while (!stopping) {
    const task = tasks.shift();
    if (!task) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    const { epoch, groupId } = task;
    try {
      await use(task.weights);
      const rows = await scoreGroup(ports, task.keys.map((k) => ({ ...k, policyVersion: version })), config.sampler.groupSize);
      port.postMessage({ kind: "group", epoch, groupId, rows });
    } catch (error) {
      port.postMessage({ kind: "failed", epoch, groupId, message: (error as Error).message });
    }
  }
});
port.close();
