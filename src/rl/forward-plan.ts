/**
 * The micro-batches of the forward-process objectives (nft, awm): the k-th micro-batch of a sampler batch
 * holds every rollout at its k-th drawn training time, with that draw's noise, around its clean sample x0
 * (read from `source`: the image of a pixel-space generator, the kept final latent of a latent one).
 */
import type { SigmaSchedule } from "../flow/schedule.ts";
import { f32 } from "../runtime/tensors.ts";
import { cleanSamples, type CleanSource, type MicroBatchPlan } from "./learner.ts";
import { POLICY_INPUTS, type PolicyConfig, textFeeds } from "./policy-graph.ts";
import { type TimeSampling, trainingDraws } from "./training-times.ts";

export const forwardPlan =
  (sampling: TimeSampling, schedule: SigmaSchedule, policy: PolicyConfig, source: CleanSource): MicroBatchPlan =>
  (batch, optimiserStep) => {
    const latentShape = policy.net.latentShape;
    const text = textFeeds(policy, batch);
    const b = batch.rollouts.length;
    const size = latentShape.reduce((x, y) => x * y, 1);
    const clean = cleanSamples(batch.rollouts, size, source);
    const draws = batch.rollouts.map((r) => trainingDraws(sampling, schedule, r.seed, optimiserStep, size));
    const shape = [b, ...latentShape];
    return Array.from({ length: sampling.count }, (_, k) => {
      const noise = new Float32Array(b * size);
      draws.forEach((d, i) => noise.set(d[k]!.noise, i * size));
      return {
        ...text,
        [POLICY_INPUTS.clean]: f32(shape, clean),
        [POLICY_INPUTS.noise]: f32(shape, noise),
        [POLICY_INPUTS.sigma]: f32([b], Float32Array.from(draws, (d) => d[k]!.sigma)),
        [POLICY_INPUTS.advantages]: f32([b], Float32Array.from(batch.rollouts, (r) => r.advantage)),
      };
    });
  };
