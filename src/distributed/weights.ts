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

/** The run's instance id: a new one for a run from scratch, the stored one for a resume (or a new one if none is stored). */
export const runInstance = async (bus: RunBus, fresh: boolean): Promise<string> => {
  const stored = fresh ? undefined : (await bus.kv.get(INSTANCE_KEY))?.string();
  if (stored) return stored;
  const instance = randomUUID().slice(0, 8);
  await bus.kv.put(INSTANCE_KEY, instance);
  return instance;
};

/** A learner that ends (finished or stopped cleanly) releases the run: workers started later wait for the next learner instead of judging it by this one's pipeline. */
export const releaseRun = async (bus: RunBus): Promise<void> => {
  await bus.kv.delete(CONFIG_KEY);
};

/** The hash the run's learner started with, once a learner has claimed the run. */
export const runConfigHash = async (bus: RunBus): Promise<string | undefined> => (await bus.kv.get(CONFIG_KEY))?.string() || undefined;
