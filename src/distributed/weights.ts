/**
 * Weight snapshots for workers: every parameter set a worker's sampler and reward model need (generator,
 * adversarial and frozen discriminator heads), as one safetensors blob in the object store under a name the
 * learner chooses, and that name in the KV bucket as the newest. Tasks name the snapshot to use, so a
 * worker never guesses which weights a group was meant to be sampled with.
 */
import { randomUUID } from "node:crypto";
import { decodeSafetensors, encodeSafetensors, fromParamSet, toParamSet } from "../io/safetensors.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { RunBus } from "./bus.ts";
import { WeightsMissing } from "./errors.ts";

export type WeightSets = Readonly<Record<string, ParamSet>>;

/** The newest snapshot's name, for people watching a run (`nats kv get <bucket> weights.latest`); tasks name theirs. */
const LATEST = "weights.latest";

/** Stores a snapshot and the generator's policy version (optimiser steps) it holds. */
export const publishWeights = async (bus: RunBus, name: string, sets: WeightSets, policyVersion: number): Promise<void> => {
  const tensors = fromParamSet(Object.entries(sets).flatMap(([set, params]) => params.map((p) => ({ ...p, name: `${set}/${p.name}` }))));
  const bytes = encodeSafetensors({ tensors, metadata: { policyVersion: String(policyVersion) } });
  await bus.objects.putBlob({ name }, bytes);
  await bus.kv.put(LATEST, name);
};

/** The policy version a stored snapshot holds, or undefined when the snapshot is not there. */
export const snapshotVersion = async (bus: RunBus, name: string): Promise<number | undefined> => {
  const bytes = await bus.objects.getBlob(name);
  if (!bytes) return undefined;
  return Number(decodeSafetensors(bytes, `object ${bus.names.objectBucket}/${name}`).metadata.policyVersion);
};


export const fetchWeights = async (bus: RunBus, name: string): Promise<WeightSets> => {
  const bytes = await bus.objects.getBlob(name);
  if (!bytes) throw new WeightsMissing({ bucket: bus.names.objectBucket, name });
  const source = `object ${bus.names.objectBucket}/${name}`;
  const sets: Record<string, ParamSet> = {};
  for (const t of toParamSet(decodeSafetensors(bytes, source), source)) {
    const at = t.name.indexOf("/");
    const set = t.name.slice(0, at);
    sets[set] = [...(sets[set] ?? []), { ...t, name: t.name.slice(at + 1) }];
  }
  return sets;
};

const CONFIG_KEY = "config.hash";

/** The learner claims the run for its pipeline while it lives (a learner killed with kill -9 keeps it, for its resume). */
export const claimRun = async (bus: RunBus, configHash: string): Promise<void> => {
  await bus.kv.put(CONFIG_KEY, configHash);
};

const INSTANCE_KEY = "run.instance";

/** A run's instance: the id in its tasks' message ids, and the results stream (by creation time) those tasks answer into. */
interface Instance {
  readonly id: string;
  readonly resultsStreamCreated: string;
}

const storedInstance = async (bus: RunBus): Promise<Instance | undefined> => {
  const text = (await bus.kv.get(INSTANCE_KEY))?.string();
  try {
    const found = JSON.parse(text ?? "") as Partial<Instance>;
    return typeof found.id === "string" && typeof found.resultsStreamCreated === "string" ? { id: found.id, resultsStreamCreated: found.resultsStreamCreated } : undefined;
  } catch {
    return undefined; // none stored, or stored by an older advgrpo: a new instance only costs re-done groups
  }
};

/**
 * The run's instance id. A resume keeps it, so the task queue's duplicate window drops re-issues of tasks still
 * queued, but only while the results stream is the one its tasks answered into: a stream deleted and re-created
 * since took the results of tasks already done (and acknowledged) with it, and their re-issues under the old ids
 * would be dropped as duplicates with nothing left to answer them. A run from scratch, or one whose results
 * stream is new, draws a new id; `renewed` says a resume had to.
 */
export const runInstance = async (bus: RunBus, fresh: boolean): Promise<{ id: string; renewed: boolean }> => {
  const resultsStreamCreated = (await bus.jsm.streams.info(bus.names.rolloutStream)).created;
  const stored = fresh ? undefined : await storedInstance(bus);
  if (stored?.resultsStreamCreated === resultsStreamCreated) return { id: stored.id, renewed: false };
  const instance: Instance = { id: randomUUID().slice(0, 8), resultsStreamCreated };
  await bus.kv.put(INSTANCE_KEY, JSON.stringify(instance));
  return { id: instance.id, renewed: !fresh };
};

/** A learner that ends (finished or stopped cleanly) releases the run: workers started later wait for the next learner instead of judging it by this one's pipeline. */
export const releaseRun = async (bus: RunBus): Promise<void> => {
  await bus.kv.delete(CONFIG_KEY);
};

/** The hash the run's learner started with, once a learner has claimed the run. */
export const runConfigHash = async (bus: RunBus): Promise<string | undefined> => (await bus.kv.get(CONFIG_KEY))?.string() || undefined;
