/**
 * The learner's rollout ports backed by workers (ahead-ports.ts): `sample` waits for the group's scored rows
 * from a worker; `extract` and `score` hand back what the worker computed for those rows.
 *
 * Bounded lag k = learner.maxPolicyLag. When epoch e starts, the learner publishes the weights as they are
 * then (snapshot S_e: the previous epoch's steps all taken, since the epoch stream only starts after the
 * previous one ended) and issues the tasks of every epoch up to e + k not yet issued; epoch j's tasks name
 * S_max(0, j-k). At k = 0 each epoch samples with its own start weights (exactly on-policy: the run equals
 * the single-process run). At k >= 1 workers sample epoch e+1.. while the learner learns on epoch e, and the
 * learner's ratio uses the recorded sampling log-probs as the old policy. The rule depends only on the epoch,
 * so a resumed learner issues the same tasks with the same snapshots (kept in the object store) as the run
 * it continues. A group sampled with any other policy version than its task names is refused and re-issued.
 */
import { from, type Observable } from "rxjs";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import type { Ports } from "../pipeline/adapters.ts";
import type { Policy } from "../pipeline/policy.ts";
import type { RewardModel } from "../pipeline/reward-model.ts";
import type { RolloutKey, ScoredRollout } from "../rollout/rollout.ts";
import { aheadPorts } from "../pipeline/ahead-ports.ts";
import { openBus, type RunBus } from "./bus.ts";
import { EpochTasks } from "./epoch-tasks.ts";
import { warnWhenNoWorker } from "./idle-workers.ts";
import { configHash, wireMetadata } from "./identity.ts";
import { reissueLostGroups } from "./lost-groups.ts";
import { weightSnapshots } from "./snapshots.ts";
import { claimRun, releaseRun, runInstance } from "./weights.ts";

interface RemoteRolloutsOptions {
  readonly progress: (line: string) => void;
  /** A fresh run (not a resume): results and tasks left on the server by an earlier run of the name are dropped. */
  readonly fresh: boolean;
}

export interface RemoteRollouts {
  readonly ports: Pick<Ports, "sampler" | "features" | "rewards">;
  /** Errors with the fault (NATS gone past distributed.outageTimeout, a stream deleted) that ends the run. */
  readonly fault$: Observable<never>;
  /** That fault, once there is one. */
  failure(): Error | undefined;
  close(): Promise<void>;
}

/** Claims the run for this learner's pipeline; returns the run instance its tasks carry. */
const claim = async (bus: RunBus, hash: string, options: RemoteRolloutsOptions): Promise<string> => {
  if (options.fresh) {
    await bus.jsm.streams.purge(bus.names.taskStream);
    await bus.jsm.streams.purge(bus.names.rolloutStream);
  }
  await claimRun(bus, hash);
  const { id, renewed } = await runInstance(bus, options.fresh);
  if (renewed) {
    // Every group not yet learned on is issued again under the new id; the old queue's tasks would only be done twice.
    options.progress(`stream ${bus.names.rolloutStream} was re-created since the run's tasks were issued (the results it held are gone): issuing every missing group again`);
    await bus.jsm.streams.purge(bus.names.taskStream);
  }
  return id;
};

/** The learner's warnings and repairs while it waits for workers; the returned function stops them. */
const watchWorkers = (bus: RunBus, config: PipelineConfig, tasks: EpochTasks, say: (line: string) => void): (() => void) => {
  const d = config.distributed!;
  const stopWarning = warnWhenNoWorker(bus, { url: d.url, intervalMs: d.noWorkerWarning * 1000, say });
  // A held task comes back within an ack deadline, so that is how long a group may seem lost before it is.
  const stopLostCheck = reissueLostGroups(bus, { intervalMs: d.ackDeadline * 1000, awaited: () => tasks.awaited(), reissue: (e, g, why) => tasks.reissue(e, g, why) });
  return () => {
    stopWarning();
    stopLostCheck();
  };
};

export const openRemoteRollouts = async (config: PipelineConfig, policy: Policy, rewards: RewardModel, options: RemoteRolloutsOptions): Promise<RemoteRollouts> => {
  const d = config.distributed!;
  const bus: RunBus = await openBus({ url: d.url, runName: config.run.name, ackDeadlineMs: d.ackDeadline * 1000, outageTimeoutMs: d.outageTimeout * 1000, onStatus: options.progress });
  const hash = configHash(config);
  let instance: string;
  try {
    instance = await claim(bus, hash, options);
  } catch (e) {
    await bus.close();
    throw e;
  }
  const tasks = new EpochTasks(bus, {
    config,
    configHash: hash,
    instance,
    metadata: wireMetadata(config, policy, rewards),
    snapshotOf: weightSnapshots(bus, policy, rewards, config.learner.maxPolicyLag),
    progress: options.progress,
  });
  const stopWatching = watchWorkers(bus, config, tasks, options.progress);

  const sampleGroup = async (keys: readonly RolloutKey[]): Promise<ScoredRollout[]> => {
    const { epoch, groupId } = keys[0]!;
    const results = await bus.watch.guard(tasks.start(epoch));
    return bus.watch.guard(results.group(groupId));
  };

  return {
    ports: aheadPorts(sampleGroup),
    fault$: from(bus.watch.faulted),
    failure: () => bus.watch.fault,
    close: async () => {
      stopWatching();
      // After a fault (NATS gone, a stream deleted) closing must neither wait for the server nor hide the fault.
      const settle = (p: Promise<unknown>) =>
        bus.watch.guard(p).catch((e: unknown) => {
          if (!bus.watch.fault) throw e;
        });
      await tasks.close(settle);
      await settle(releaseRun(bus));
      await bus.close();
    },
  };
};
