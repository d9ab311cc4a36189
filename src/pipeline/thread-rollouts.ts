/**
 * Bounded policy lag in one process (learner.maxPolicyLag >= 1 without distributed:): a worker thread with its
 * own models (rollout-thread.ts) samples, featurises and scores the groups of epochs e+1..e+k while this thread
 * learns on epoch e; the rollout ports wait for its finished groups (ahead-ports.ts), exactly as they wait for
 * NATS workers. When epoch e starts, its weights are copied to the thread as snapshot S_e and the tasks of every
 * epoch up to e+k not yet issued go out, epoch j naming S_max(0, j-k). A resumed run rebuilds the snapshots it
 * no longer holds from the checkpoints (S_j is the checkpoint that ended epoch j-1; S_0 is the initialisation),
 * so it samples every epoch as the run it continues did.
 */
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { workerWeightSets } from "../distributed/worker.ts";
import type { RolloutKey, ScoredRollout } from "../rollout/rollout.ts";
import { memberSeed } from "../stages/expandGroup.ts";
import { promptsOfEpoch } from "../stages/promptSource.ts";
import type { Ports } from "./adapters.ts";
import { aheadPorts, samplingEpoch } from "./ahead-ports.ts";
import type { PipelineConfig } from "./config/schema.ts";
import type { Policy } from "./policy.ts";
import { trainingPrompts } from "./prompts.ts";
import type { RewardModel } from "./reward-model.ts";
import type { ThreadMessage } from "./rollout-thread.ts";
import { checkpointFile, type RunFolder } from "./run-folder.ts";

type Reply = { kind: "group"; epoch: number; groupId: number; rows: ScoredRollout[] } | { kind: "failed"; epoch: number; groupId: number; message: string };

/**
 * The thread's replies by group: a reply waits here until its port call asks, or the call waits for it. A thread
 * error, or an exit before close, fails every waiting call and every later one.
 */
const threadReplies = (thread: Worker) => {
  const key = (epoch: number, groupId: number) => `${epoch}/${groupId}`;
  const arrived = new Map<string, Reply>();
  const waiting = new Map<string, (reply: Reply) => void>();
  let broken: Error | undefined;
  let closing = false;
  const deliver = (reply: Reply) => {
    const k = key(reply.epoch, reply.groupId);
    const waiter = waiting.get(k);
    if (waiter) {
      waiting.delete(k);
      waiter(reply);
    } else arrived.set(k, reply);
  };
  const breakDown = (error: Error) => {
    broken ??= error;
    for (const [k, waiter] of waiting) {
      const [epoch, groupId] = k.split("/").map(Number);
      waiter({ kind: "failed", epoch: epoch!, groupId: groupId!, message: error.message });
    }
    waiting.clear();
  };
  thread.on("message", deliver);
  thread.on("error", breakDown);
  const exited = new Promise<void>((resolve) =>
    thread.once("exit", (code) => {
      if (!closing) breakDown(new Error(`the sampling thread exited (code ${code}) while groups were due`));
      resolve();
    }),
  );
  return {
    throwIfBroken: () => {
      if (broken) throw broken;
    },
    of: async (epoch: number, groupId: number): Promise<Reply> => {
      const k = key(epoch, groupId);
      const reply = arrived.get(k) ?? (await new Promise<Reply>((resolve) => waiting.set(k, resolve)));
      arrived.delete(k);
      return reply;
    },
    /** Waits for the thread to exit after `stop` asked it to, which is then no failure. */
    close: async (stop: () => void) => {
      closing = true;
      stop();
      await exited;
    },
  };
};

/**
 * What the thread is told at the start of each epoch: the snapshot S_epoch of the weights, then the tasks of every
 * epoch up to epoch + lag not yet issued, each naming the snapshot it samples with.
 */
const epochStarts = (config: PipelineConfig, policy: Policy, rewards: RewardModel, o: { readonly folder: RunFolder; readonly progress: (line: string) => void }, post: (m: ThreadMessage, transfer?: ArrayBuffer[]) => void) => {
  const lag = config.learner.maxPolicyLag;
  const promptSource = { prompts: trainingPrompts(config), promptsPerEpoch: config.sampler.promptsPerEpoch, epochs: config.run.epochs, seed: config.run.seed };
  const snapshots = new Set<number>();
  /** Gives the thread S_epoch: the live weights at the epoch's start, or (resume) the checkpoint that ended epoch - 1. */
  const snapshot = (epoch: number, current: number) => {
    if (snapshots.has(epoch) || epoch === 0) return;
    snapshots.add(epoch);
    if (epoch === current) {
      const sets = Object.fromEntries(Object.entries(workerWeightSets(policy, rewards)).map(([k, params]) => [k, params.map((p) => ({ ...p, data: p.data.slice() }))]));
      post({ kind: "weights", epoch, version: policy.optimizer.stepCount, sets }, Object.values(sets).flatMap((params) => params.map((p) => p.data.buffer as ArrayBuffer)));
      return;
    }
    const file = checkpointFile(o.folder, epoch - 1);
    if (!existsSync(file)) {
      throw new Error(
        `cannot resume at learner.maxPolicyLag ${lag}: epoch ${epoch + lag + 1} is sampled with the weights at the start of epoch ${epoch + 1}, which only ${file} holds and it is gone (keep at least ${lag + 1} checkpoints with run.keepCheckpoints, or 0 for all)`,
      );
    }
    post({ kind: "checkpoint", epoch, file });
  };

  const issued = new Set<number>();
  const issue = (epoch: number, current: number) => {
    if (issued.has(epoch)) return;
    issued.add(epoch);
    const weights = samplingEpoch(epoch, lag);
    snapshot(weights, current);
    for (const item of promptsOfEpoch(promptSource, epoch)) {
      const keys: RolloutKey[] = Array.from({ length: config.sampler.groupSize }, (_, member) => ({
        // policyVersion: the thread sets that of the weights it samples with
        runId: config.run.name, epoch, policyVersion: -1, prompt: item.prompt, promptIndex: item.promptIndex, groupId: item.groupId, member,
        seed: memberSeed(config.run.seed, epoch, item.groupId, member),
      }));
      post({ kind: "task", epoch, groupId: item.groupId, weights, keys });
    }
  };

  const started = new Set<number>();
  /** Once per epoch, at its first group, while the weights are the epoch's start weights. */
  return (epoch: number) => {
    if (started.has(epoch)) return;
    started.add(epoch);
    snapshot(epoch, epoch);
    const ahead = Math.min(epoch + lag, config.run.epochs - 1);
    for (let j = epoch; j <= ahead; j++) issue(j, epoch);
    post({ kind: "forget", before: samplingEpoch(epoch, lag) });
    o.progress(`epoch ${epoch + 1} samples with the weights of epoch ${samplingEpoch(epoch, lag) + 1} (lag ${epoch - samplingEpoch(epoch, lag)} epochs); the sampling thread works up to epoch ${ahead + 1}`);
  };
};

export const openThreadRollouts = (
  config: PipelineConfig,
  policy: Policy,
  rewards: RewardModel,
  o: { readonly folder: RunFolder; readonly progress: (line: string) => void },
): { ports: Pick<Ports, "sampler" | "features" | "rewards">; close(): Promise<void> } => {
  const thread = new Worker(new URL("./rollout-thread.ts", import.meta.url), { workerData: { config } });
  const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []) => thread.postMessage(m, transfer);
  const replies = threadReplies(thread);
  const startEpoch = epochStarts(config, policy, rewards, o, post);

  const sampleGroup = async (keys: readonly RolloutKey[]): Promise<ScoredRollout[]> => {
    const { epoch, groupId } = keys[0]!;
    replies.throwIfBroken();
    startEpoch(epoch);
    const reply = await replies.of(epoch, groupId);
    if (reply.kind === "failed") throw new Error(`the sampling thread, group ${groupId} of epoch ${epoch}: ${reply.message}`);
    return reply.rows;
  };

  return {
    ports: aheadPorts(sampleGroup),
    close: () => replies.close(() => post({ kind: "stop" })),
  };
};
