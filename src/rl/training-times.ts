/**
 * Which schedule times a forward-process objective trains each rollout at, and the noise it noises the clean
 * sample with there. Both come from the rollout's own seed and the optimiser step, so a step is a pure function
 * of (weights, rollouts): replay recomputes the loss exactly, whatever batch a rollout lands in.
 *
 * nft: `count` distinct steps drawn uniformly from 0..N-1 (the released code permutes the N steps per sample
 *      and trains the first int(0.99 N)).
 * awm: one step per stratum of 1..floor(fraction N) (the released "discrete_wo_init": strata between
 *      linspace(1, floor(fraction N), count + 1), floored; step 0, pure noise, is never trained). The released
 *      code shares the draw across a batch; here each rollout draws its own, so batching cannot change it.
 */
import type { SigmaSchedule } from "../flow/schedule.ts";
import type { Rng } from "../util/prng.ts";
import { makeRng } from "../util/prng.ts";

export type TimeSampling = { readonly kind: "nft"; readonly count: number } | { readonly kind: "awm"; readonly count: number; readonly fraction: number };

export const nftStepIndices = (rng: Rng, steps: number, count: number): number[] => {
  if (count > steps) throw new Error(`nft: ${count} training times cannot be drawn without replacement from ${steps} schedule steps`);
  const pool = Array.from({ length: steps }, (_, i) => i);
  // A partial Fisher-Yates shuffle: the first `count` entries are a uniform draw without replacement.
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(steps - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
};

export const awmStepIndices = (rng: Rng, steps: number, count: number, fraction: number): number[] => {
  const last = Math.floor(steps * fraction);
  if (last <= 1) throw new Error(`awm: steps 1..${last} leave no schedule step to train at (${steps} steps, fraction ${fraction})`);
  const boundary = (k: number) => Math.floor(1 + ((last - 1) * k) / count);
  return Array.from({ length: count }, (_, k) => {
    const [low, high] = [boundary(k), boundary(k + 1)];
    return low + Math.floor(rng.next() * (high - low));
  });
};

interface TrainingDraw {
  readonly sigma: number;
  readonly noise: Float32Array;
}

/** The draws of one rollout at one optimiser step: its training times in draw order, each with its noise. */
export const trainingDraws = (sampling: TimeSampling, schedule: SigmaSchedule, seed: number, optimiserStep: number, size: number): TrainingDraw[] => {
  const rng = makeRng(seed).fork(`${sampling.kind}-times:${optimiserStep}`);
  const indices = sampling.kind === "nft" ? nftStepIndices(rng.fork("steps"), schedule.steps, sampling.count) : awmStepIndices(rng.fork("steps"), schedule.steps, sampling.count, sampling.fraction);
  return indices.map((i, k) => ({ sigma: schedule.sigmas[i]!, noise: rng.fork(`noise:${k}`).fillNormal(new Float32Array(size)) }));
};
