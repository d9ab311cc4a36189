/**
 * The learner's weight snapshots, one per epoch: S_e is the weights as epoch e starts, published to the object
 * store under `weights/epoch-<e>` with its policy version. A resumed learner that samples epochs ahead reads
 * back the snapshots of epochs it did not start itself, so it issues the same tasks as the run it continues.
 */
import type { Policy } from "../pipeline/policy.ts";
import type { RewardModel } from "../pipeline/reward-model.ts";
import type { RunBus } from "./bus.ts";
import { publishWeights, snapshotVersion } from "./weights.ts";
import { workerWeightSets } from "./worker.ts";

export interface Snapshot {
  /** Its object-store name, as tasks name it. */
  readonly name: string;
  readonly version: number;
}

/** Snapshot S_e, published once per epoch (when `epoch` is the epoch starting now) or read back (an earlier one). */
export const weightSnapshots = (bus: RunBus, policy: Policy, rewards: RewardModel, lag: number) => {
  const snapshots = new Map<number, Promise<Snapshot>>();

  /** Encodes the weights now (they change once learning resumes), then stores them however long an outage lasts. */
  const publish = (name: string): Promise<Snapshot> => {
    const sets = workerWeightSets(policy, rewards);
    const copied = Object.fromEntries(Object.entries(sets).map(([k, params]) => [k, params.map((p) => ({ ...p, data: p.data.slice() }))]));
    const version = policy.optimizer.stepCount;
    return bus.watch.retry(`storing ${name}`, () => publishWeights(bus, name, copied, version)).then(() => ({ name, version }));
  };

  const readBack = (name: string, epoch: number): Promise<Snapshot> =>
    bus.watch.retry(`reading snapshot ${name}`, () => snapshotVersion(bus, name)).then((version) => {
      if (version === undefined) throw new Error(`cannot resume at learner.maxPolicyLag ${lag}: the weights snapshot '${name}' that epoch ${epoch + lag} was sampled with is gone from object store ${bus.names.objectBucket}`);
      return { name, version };
    });

  return (epoch: number, current: number): Promise<Snapshot> => {
    const known = snapshots.get(epoch);
    if (known) return known;
    const name = `weights/epoch-${epoch}`;
    const made = epoch === current ? publish(name) : readBack(name, epoch);
    snapshots.set(epoch, made);
    return made;
  };
};
