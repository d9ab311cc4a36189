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
import { aheadPorts, samplingEpoch } from "../pipeline/ahead-ports.ts";
import { openBus, type RunBus } from "./bus.ts";
import { warnWhenNoWorker } from "./idle-workers.ts";
import { configHash, wireMetadata } from "./identity.ts";
import { EpochResults } from "./results.ts";
import { publishTask, type GroupTask } from "./tasks.ts";
import { promptsOfEpoch } from "../stages/promptSource.ts";
import { memberSeed } from "../stages/expandGroup.ts";
import { trainingPrompts } from "../pipeline/prompts.ts";
import { claimRun, publishWeights, releaseRun, runInstance, snapshotVersion } from "./weights.ts";
import { workerWeightSets } from "./worker.ts";

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

export const openRemoteRollouts = async (config: PipelineConfig, policy: Policy, rewards: RewardModel, options: RemoteRolloutsOptions): Promise<RemoteRollouts> => {
  const d = config.distributed!;
  const bus: RunBus = await openBus({ url: d.url, runName: config.run.name, ackDeadlineMs: d.ackDeadline * 1000, outageTimeoutMs: d.outageTimeout * 1000, onStatus: options.progress });
  const hash = configHash(config);
  const retried = <T>(what: string, operation: () => Promise<T>) => bus.watch.retry(what, operation);
  const stopWarning = warnWhenNoWorker(bus, { url: d.url, intervalMs: d.noWorkerWarning * 1000, say: options.progress });
  if (options.fresh) {
    await bus.jsm.streams.purge(bus.names.taskStream);
    await bus.jsm.streams.purge(bus.names.rolloutStream);
  }
  await claimRun(bus, hash);
  const { id: instance, renewed } = await runInstance(bus, options.fresh);
  if (renewed) {
    // Every group not yet learned on is issued again under the new id; the old queue's tasks would only be done twice.
    options.progress(`stream ${bus.names.rolloutStream} was re-created since the run's tasks were issued (the results it held are gone): issuing every missing group again`);
    await bus.jsm.streams.purge(bus.names.taskStream);
  }
  const metadata = wireMetadata(config, policy, rewards);
  const lag = config.learner.maxPolicyLag;
  const promptSource = { prompts: trainingPrompts(config), promptsPerEpoch: config.sampler.promptsPerEpoch, epochs: config.run.epochs, seed: config.run.seed };
  interface Issued {
    readonly tasks: Map<number, GroupTask>;
    readonly results: EpochResults;
  }
  const epochs = new Map<number, Promise<Issued>>();

  const reissue = (epoch: number, groupId: number, reason: string) => {
    void epochs.get(epoch)?.then(({ tasks }) => {
      const previous = tasks.get(groupId)!;
      const task = { ...previous, attempt: previous.attempt + 1 };
      tasks.set(groupId, task);
      options.progress(`refused a result: ${reason}; re-issuing group ${groupId} of epoch ${epoch} (attempt ${task.attempt})`);
      return retried(`re-issuing group ${groupId} of epoch ${epoch}`, () => publishTask(bus, task)).catch((e: Error) => options.progress(`could not re-issue group ${groupId} of epoch ${epoch}: ${e.message}; the epoch waits for it`));
    });
  };

  const checker = (tasks: Map<number, GroupTask>) => (groupId: number, rows: readonly ScoredRollout[]): string | undefined => {
    const keys = tasks.get(groupId)?.keys;
    if (!keys) return `group ${groupId} was not issued in this epoch`;
    if (rows.length !== keys.length) return `${rows.length} rows for a group of ${keys.length}`;
    const wrong = rows.findIndex((r, i) => r.member !== keys[i]!.member || r.seed !== keys[i]!.seed || r.groupId !== groupId);
    if (wrong >= 0) return `row ${wrong} is member ${rows[wrong]!.member} seed ${rows[wrong]!.seed}, the task asked for member ${keys[wrong]!.member} seed ${keys[wrong]!.seed}`;
    const stale = rows.find((r, i) => r.policyVersion !== keys[i]!.policyVersion);
    if (stale) return `sampled with policy version ${stale.policyVersion}, the task named ${keys[0]!.policyVersion} (learner.maxPolicyLag ${lag})`;
    return undefined;
  };

  /** Encodes the weights now (they change once learning resumes), then stores them however long an outage lasts. */
  const publishSnapshot = (name: string): Promise<{ name: string; version: number }> => {
    const sets = workerWeightSets(policy, rewards);
    const copied = Object.fromEntries(Object.entries(sets).map(([k, params]) => [k, params.map((p) => ({ ...p, data: p.data.slice() }))]));
    const version = policy.optimizer.stepCount;
    return retried(`storing ${name}`, () => publishWeights(bus, name, copied, version)).then(() => ({ name, version }));
  };

  /** Snapshot S_e, published once per epoch; its policy version is kept beside it for a resumed learner. */
  const snapshots = new Map<number, Promise<{ name: string; version: number }>>();
  const snapshotOf = (epoch: number, current: number): Promise<{ name: string; version: number }> => {
    const known = snapshots.get(epoch);
    if (known) return known;
    const name = `weights/epoch-${epoch}`;
    const made =
      epoch === current
        ? publishSnapshot(name)
        : retried(`reading snapshot ${name}`, () => snapshotVersion(bus, name)).then((version) => {
            if (version === undefined) throw new Error(`cannot resume at learner.maxPolicyLag ${lag}: the weights snapshot '${name}' that epoch ${epoch + lag} was sampled with is gone from object store ${bus.names.objectBucket}`);
            return { name, version };
          });
    snapshots.set(epoch, made);
    return made;
  };

  const issue = (epoch: number, current: number): Promise<Issued> => {
    const known = epochs.get(epoch);
    if (known) return known;
    const made = (async () => {
      const snapshot = await snapshotOf(samplingEpoch(epoch, lag), current);
      const tasks = new Map<number, GroupTask>();
      const results = await retried(`reading epoch ${epoch}'s results`, () => EpochResults.open(bus, { epoch, configHash: hash, metadata, onRefused: (g, why) => reissue(epoch, g, why), check: checker(tasks) }));
      for (const item of promptsOfEpoch(promptSource, epoch)) {
        const keys = Array.from({ length: config.sampler.groupSize }, (_, member) => ({
          runId: config.run.name, epoch, policyVersion: snapshot.version, prompt: item.prompt, promptIndex: item.promptIndex, groupId: item.groupId, member,
          seed: memberSeed(config.run.seed, epoch, item.groupId, member),
        }));
        const task: GroupTask = { configHash: hash, instance, epoch, groupId: item.groupId, attempt: 0, weights: snapshot.name, keys: [keys[0]!, ...keys.slice(1)] };
        tasks.set(item.groupId, task);
        await retried(`issuing group ${item.groupId} of epoch ${epoch}`, () => publishTask(bus, task));
      }
      return { tasks, results };
    })();
    epochs.set(epoch, made);
    return made;
  };

  /** Once per epoch, however many groups ask at once: snapshot, issue ahead, retire finished epochs. */
  const started = new Map<number, Promise<Issued>>();
  const startEpoch = (epoch: number): Promise<Issued> => {
    const known = started.get(epoch);
    if (known) return known;
    // The snapshot is taken now, before anything awaits, while the weights are the epoch's start weights.
    const own = snapshotOf(epoch, epoch);
    const ahead = Math.min(epoch + lag, config.run.epochs - 1);
    for (let j = epoch + 1; j <= ahead; j++) issue(j, epoch).catch(() => {}); // a failure surfaces when epoch j starts
    const sampledWith = samplingEpoch(epoch, lag);
    if (lag > 0) options.progress(`epoch ${epoch + 1} samples with the weights of epoch ${sampledWith + 1} (lag ${epoch - sampledWith} epochs); sampling epochs up to ${ahead + 1} ahead`);
    const made = (async () => {
      for (const [e, issued] of epochs) {
        if (e >= epoch) continue;
        epochs.delete(e);
        started.delete(e);
        await (await issued).results.close();
      }
      await own;
      return issue(epoch, epoch);
    })();
    started.set(epoch, made);
    return made;
  };

  const sampleGroup = async (keys: readonly RolloutKey[]): Promise<ScoredRollout[]> => {
    const { epoch, groupId } = keys[0]!;
    const { results } = await bus.watch.guard(startEpoch(epoch));
    return bus.watch.guard(results.group(groupId));
  };

  return {
    ports: aheadPorts(sampleGroup),
    fault$: from(bus.watch.faulted),
    failure: () => bus.watch.fault,
    close: async () => {
      stopWarning();
      // After a fault (NATS gone, a stream deleted) closing must neither wait for the server nor hide the fault.
      const settle = (p: Promise<unknown>) =>
        bus.watch.guard(p).catch((e: unknown) => {
          if (!bus.watch.fault) throw e;
        });
      for (const issued of epochs.values()) await settle(issued.then((i) => i.results.close()));
      await settle(releaseRun(bus));
      await bus.close();
    },
  };
};
