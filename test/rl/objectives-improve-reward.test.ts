/**
 * The learner optimises what it is given: with a plain reward (mean image brightness) in place of the
 * discriminator, each objective raises that reward on the policy's own samples within a few iterations.
 * A sign error anywhere between advantages, the objective's loss and AdamW would lower it instead.
 */
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { decodePipelineConfig, loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { buildPolicy } from "../../src/pipeline/policy.ts";
import { groupAdvantages } from "../../src/rl/advantages.ts";
import type { AdvantagedRollout, SampledRollout } from "../../src/rollout/rollout.ts";

const brightness = (r: SampledRollout) => r.image.reduce((a, b) => a + b, 0) / r.image.length;

/** Mean brightness per iteration of `iterations` sample -> advantage -> one optimiser step rounds. */
const brightnessCurve = async (overrides: Record<string, unknown>, iterations: number): Promise<number[]> => {
  // The committed pretrained generator: a random one mostly saturates pixels, which no policy gradient can brighten.
  const base = await Effect.runPromise(loadPipelineFile("pipelines/default.yaml"));
  const { learner, sampler } = overrides as { learner?: object; sampler?: object };
  const config = await Effect.runPromise(decodePipelineConfig({ ...base, learner: { ...base.learner, lr: 3e-4, ...learner }, sampler: { ...base.sampler, ...sampler } }));
  const policy = await buildPolicy(config, { providers: ["cpu"], intraOpThreads: 2, spinning: false });
  const prompts = ["a large red circle on the left, white background", "a small blue square on the right, gray background"];
  const means: number[] = [];
  for (let iteration = 0; iteration < iterations; iteration++) {
    const version = policy.optimizer.stepCount;
    const groups: SampledRollout[][] = [];
    for (const [p, prompt] of prompts.entries()) {
      const keys = Array.from({ length: config.sampler.groupSize }, (_, member) => ({ runId: "improve", epoch: iteration, policyVersion: version, prompt, promptIndex: p, groupId: 2 * iteration + p, member, seed: 1000 * iteration + 10 * p + member }));
      groups.push(await policy.sampler.sample(keys, await policy.embed(keys.map((k) => k.prompt)), policy.params));
    }
    const rewards = groups.map((g) => g.map(brightness));
    means.push(rewards.flat().reduce((a, b) => a + b, 0) / rewards.flat().length);
    const { advantages } = groupAdvantages(rewards, { stdScope: "global", epsilon: 1e-4, clip: 5 });
    const batches = await Promise.all(
      groups.map(async (group, g) => ({
        rollouts: group.map((r, m) => ({ ...r, advantage: advantages[g]![m]!, reward: rewards[g]![m]!, rewards: {}, cls: new Float32Array(), patches: new Float32Array(), pooled: new Float32Array(), discLogitCls: 0, discLogitPatch: 0 }) satisfies AdvantagedRollout),
        ...(await policy.embed(group.map((r) => r.prompt))),
      })),
    );
    await policy.learner.step(batches);
  }
  await policy.release();
  return means;
};

const rises = (means: readonly number[]) => {
  const early = (means[0]! + means[1]!) / 2;
  const late = (means.at(-1)! + means.at(-2)!) / 2;
  expect(late).toBeGreaterThan(early + 0.01);
};

describe("each objective raises a simple reward (image brightness) on the policy's own samples", () => {
  it("grpo", async () => rises(await brightnessCurve({}, 8)));
  // The papers' rollouts: ODE samples; fewer training times than the defaults keep the test short.
  it("nft", async () => rises(await brightnessCurve({ sampler: { kind: "ode" }, learner: { objective: "nft", nft: { timesteps: 3 } } }, 8)));
  it("awm", async () => rises(await brightnessCurve({ sampler: { kind: "ode" }, learner: { objective: "awm", awm: { timesteps: 3 } } }, 8)));
});
