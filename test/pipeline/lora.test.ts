import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { isAdapterParam } from "../../src/nn/params.ts";
import { decodePipelineConfig, loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { buildPolicy } from "../../src/pipeline/policy.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

describe("learner.lora in a pipeline file", () => {
  it("trains only adapters on the targeted projections, starting exactly at the pretrained model", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-lora-"));
    const base = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 1)));
    const config = await Effect.runPromise(decodePipelineConfig({ ...base, learner: { ...base.learner, lora: { rank: 2, alpha: 4, targets: ["attn.qkv", "attn.proj"] } } }));
    const policy = await buildPolicy(config, { providers: ["cpu"], intraOpThreads: 2, spinning: false });
    const trained = policy.optimizer.params.map((p) => p.name);
    expect(trained.length).toBe(4);
    expect(trained.every(isAdapterParam)).toBe(true);
    const frozenBefore = policy.params.filter((p) => !isAdapterParam(p.name)).map((p) => p.data.slice());
    const prompt = "a large red circle on the left, white background";
    const keys = Array.from({ length: config.sampler.groupSize }, (_, member) => ({ runId: "lora", epoch: 0, policyVersion: 0, prompt, promptIndex: 0, groupId: 0, member, seed: member }));
    const text = await policy.embed(keys.map((k) => k.prompt));
    const rollouts = await policy.sampler.sample(keys, text, policy.params);
    const rows = rollouts.map((r, m) => ({ ...r, advantage: m % 2 ? 1 : -1, reward: 0, rewards: {}, cls: new Float32Array(), patches: new Float32Array(), pooled: new Float32Array(), discLogitCls: 0, discLogitPatch: 0 }));
    const first = await policy.learner.step([{ rollouts: rows, ...text }]);
    expect([first.ratioMin, first.ratioMax]).toEqual([1, 1]);
    const second = await policy.learner.step([{ rollouts: rows, ...text }]);
    expect(second.ratioMax - second.ratioMin).toBeGreaterThan(0);
    policy.params.filter((p) => !isAdapterParam(p.name)).forEach((p, i) => expect(p.data).toEqual(frozenBefore[i]));
    await policy.release();
  });
});
