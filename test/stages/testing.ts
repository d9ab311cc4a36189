/** Fakes for the marble specs beside each stage: rows with tiny tensors and a TestScheduler. */
import { TestScheduler } from "rxjs/testing";
import { expect } from "vitest";
import type { AdvantagedRollout, FeaturedRollout, RolloutKey, SampledRollout, ScoredRollout } from "../../src/rollout/rollout.ts";
import type { AdvantagedEpoch } from "../../src/stages/types.ts";

export function marbleScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

export function fakeKey(groupId: number, member: number, epoch = 0): RolloutKey {
  return { runId: "run", epoch, policyVersion: 0, prompt: `prompt ${groupId}`, promptIndex: groupId, groupId, member, seed: 100 * groupId + member };
}

export function fakeSampled(key: RolloutKey): SampledRollout {
  return { ...key, steps: [], image: Float32Array.of(key.groupId, key.member), imageHeight: 1, imageWidth: 1, timings: {} };
}

export function fakeFeatured(key: RolloutKey): FeaturedRollout {
  const feature = Float32Array.of(key.member);
  return { ...fakeSampled(key), cls: feature, patches: feature, pooled: feature };
}

export function fakeScored(key: RolloutKey, reward: number): ScoredRollout {
  return { ...fakeFeatured(key), rewards: { fake: reward }, reward, discLogitCls: reward, discLogitPatch: reward };
}

/** An advantaged epoch of `rewards.length` groups, group g holding rows with rewards[g]. */
export function fakeEpoch(epoch: number, rewards: readonly (readonly number[])[]): AdvantagedEpoch {
  const groups = rewards.map((group, g) =>
    group.map((reward, member): AdvantagedRollout => ({ ...fakeScored(fakeKey(g, member, epoch), reward), advantage: 0 })),
  );
  return { epoch, groups, zeroStdGroupFraction: 0 };
}
