/**
 * The learner's rollout ports backed by workers: `sample` issues the group's task and waits for the scored
 * group; `extract` and `score` hand back what the worker computed for those rows. The stages do not change:
 * the group's rows flow through them as they would in one process.
 *
 * Bounded lag 0: the first task of an epoch publishes the weights as they are then (the previous epoch's
 * steps all taken, since the epoch stream only starts after the previous one ended), every task of the
 * epoch names that snapshot, and a group sampled with any other policy version is refused and re-issued.
 */
import { defer, from, type Observable } from "rxjs";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import type { Ports } from "../pipeline/adapters.ts";
import type { Policy } from "../pipeline/policy.ts";
import type { RewardModel } from "../pipeline/reward-model.ts";
import type { RolloutKey, ScoredRollout } from "../rollout/rollout.ts";
import { openBus, type RunBus } from "./bus.ts";
import { configHash, wireMetadata } from "./identity.ts";
import { EpochResults } from "./results.ts";
import { publishTask, type GroupTask } from "./tasks.ts";
import { claimRun, publishWeights, releaseRun, runInstance } from "./weights.ts";
import { workerWeightSets } from "./worker.ts";

export interface RemoteRolloutsOptions {
  readonly progress: (line: string) => void;
  /** A fresh run (not a resume): results and tasks left on the server by an earlier run of the name are dropped. */
  readonly fresh: boolean;
}

export interface RemoteRollouts {
  readonly ports: Pick<Ports, "sampler" | "features" | "rewards">;
  /** Groups whose copies were dropped because the group was already accepted (redeliveries). */
  readonly duplicates: () => number;
  /** Results refused (unreadable, another pipeline, wrong policy version) and re-issued. */
  readonly refused: () => number;
  close(): Promise<void>;
}

export const openRemoteRollouts = async (config: PipelineConfig, policy: Policy, rewards: RewardModel, options: RemoteRolloutsOptions): Promise<RemoteRollouts> => {
  const d = config.distributed!;
  const bus: RunBus = await openBus({ url: d.url, runName: config.run.name, ackDeadlineMs: d.ackDeadline * 1000, onStatus: options.progress });
  const hash = configHash(config);
  if (options.fresh) {
    await bus.jsm.streams.purge(bus.names.taskStream);
    await bus.jsm.streams.purge(bus.names.rolloutStream);
  }
  await claimRun(bus, hash);
  const instance = await runInstance(bus, options.fresh);
  const metadata = wireMetadata(config, policy, rewards);
  const tasks = new Map<number, GroupTask>();
  // Rows are matched to the worker's results by their image array, which only these rows carry.
  const scored = new WeakMap<Float32Array, ScoredRollout>();
  let epochState: { epoch: number; weights: Promise<string>; results: Promise<EpochResults> } | undefined;
  let current: EpochResults | undefined;
  let duplicates = 0;
  let refused = 0;

  const reissue = (groupId: number, reason: string) => {
    const previous = tasks.get(groupId);
    if (!previous) return; // a late copy for an epoch already finished
    const task = { ...previous, attempt: previous.attempt + 1 };
    tasks.set(groupId, task);
    options.progress(`refused a result: ${reason}; re-issuing group ${groupId} of epoch ${task.epoch} (attempt ${task.attempt})`);
    void publishTask(bus, task);
  };

  const check = (groupId: number, rows: readonly ScoredRollout[]): string | undefined => {
    const keys = tasks.get(groupId)?.keys;
    if (!keys) return `group ${groupId} was not issued in this epoch`;
    if (rows.length !== keys.length) return `${rows.length} rows for a group of ${keys.length}`;
    const wrong = rows.findIndex((r, i) => r.member !== keys[i]!.member || r.seed !== keys[i]!.seed || r.groupId !== groupId);
    if (wrong >= 0) return `row ${wrong} is member ${rows[wrong]!.member} seed ${rows[wrong]!.seed}, the task asked for member ${keys[wrong]!.member} seed ${keys[wrong]!.seed}`;
    const stale = rows.find((r, i) => r.policyVersion !== keys[i]!.policyVersion);
    if (stale) return `sampled with policy version ${stale.policyVersion}, the task named ${keys[0]!.policyVersion} (learner.maxPolicyLag 0)`;
    return undefined;
  };

  const startEpoch = (epoch: number) => {
    if (epochState?.epoch === epoch) return epochState;
    const previous = epochState;
    tasks.clear();
    const name = `weights/epoch-${epoch}`;
    // Encoded now, synchronously inside publishWeights' first step, before any later step changes the weights.
    const weights = publishWeights(bus, name, workerWeightSets(policy, rewards)).then(() => name);
    const results = (async () => {
      if (previous) {
        const old = await previous.results;
        duplicates += old.duplicates;
        refused += old.refused;
        await old.close();
      }
      current = await EpochResults.open(bus, { epoch, configHash: hash, metadata, onRefused: reissue, check });
      return current;
    })();
    epochState = { epoch, weights, results };
    return epochState;
  };

  const sampleGroup = async (keys: readonly RolloutKey[]): Promise<ScoredRollout[]> => {
    const { epoch, groupId } = keys[0]!;
    const state = startEpoch(epoch);
    const results = await state.results;
    const task: GroupTask = { configHash: hash, instance, epoch, groupId, attempt: 0, weights: await state.weights, keys: [keys[0]!, ...keys.slice(1)] };
    tasks.set(groupId, task);
    // Already there when a restarted learner finds the group a worker finished for its previous life.
    if (!results.has(groupId)) await publishTask(bus, task);
    const rows = await results.group(groupId);
    for (const row of rows) scored.set(row.image, row);
    return rows;
  };

  const lookup = (image: Float32Array): ScoredRollout => {
    const row = scored.get(image);
    if (!row) throw new Error("internal: a row reached the remote feature or reward port without a worker's result");
    return row;
  };

  const remote = <T>(work: () => Promise<T>): Observable<T> => defer(() => from(work()));

  return {
    ports: {
      sampler: { sample: (keys) => remote(() => sampleGroup(keys)) },
      features: {
        extract: (images) => remote(async () => images.map((i) => lookup(i.image)).map(({ cls, patches, pooled }) => ({ cls, patches, pooled }))),
      },
      rewards: {
        score: (rows) =>
          remote(async () => rows.map((r) => lookup(r.image)).map(({ rewards, reward, discLogitCls, discLogitPatch }) => ({ rewards, reward, discLogitCls, discLogitPatch }))),
      },
    },
    duplicates: () => duplicates + (current?.duplicates ?? 0),
    refused: () => refused + (current?.refused ?? 0),
    close: async () => {
      if (epochState) await (await epochState.results).close();
      await releaseRun(bus);
      await bus.close();
    },
  };
};
