/**
 * The learner optimises what it is given: with a plain reward (mean image brightness) in place of the
 * discriminator, GRPO on the policy's own samples raises that reward within a few iterations. A sign error
 * anywhere between advantages, the clipped surrogate and AdamW would lower it instead.
 */
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { decodePipelineConfig, loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { buildPolicy } from "../../src/pipeline/policy.ts";
import { groupAdvantages } from "../../src/rl/advantages.ts";
import type { AdvantagedRollout, SampledRollout } from "../../src/rollout/rollout.ts";

const brightness = (r: SampledRollout) => r.image.reduce((a, b) => a + b, 0) / r.image.length;

describe("GRPO", () => {
  it("raises a simple reward (image brightness) on the policy's own samples", async () => {
    // The committed pretrained generator: a random one mostly saturates pixels, which no policy gradient can brighten.
    const base = await Effect.runPromise(loadPipelineFile("pipelines/default.yaml"));
    const config = await Effect.runPromise(decodePipelineConfig({ ...base, learner: { ...base.learner, lr: 3e-4 } }));
    const policy = await buildPolicy(config, { providers: ["cpu"], intraOpThreads: 2, spinning: false });
    const prompts = ["a large red circle on the left, white background", "a small blue square on the right, gray background"];
    const means: number[] = [];
    for (let iteration = 0; iteration < 8; iteration++) {
      const groups: SampledRollout[][] = [];
      for (const [p, prompt] of prompts.entries()) {
        const keys = Array.from({ length: config.sampler.groupSize }, (_, member) => ({ runId: "grpo", epoch: iteration, policyVersion: iteration, prompt, promptIndex: p, groupId: 2 * iteration + p, member, seed: 1000 * iteration + 10 * p + member }));
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
    const early = (means[0]! + means[1]!) / 2;
    const late = (means.at(-1)! + means.at(-2)!) / 2;
    expect(late).toBeGreaterThan(early + 0.01);
  });
});
