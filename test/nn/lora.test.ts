import { describe, expect, it } from "vitest";
import { initParams, isAdapterParam } from "../../src/nn/params.ts";
import { adamW } from "../../src/optim/adam.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { compileForward, compileTrainStep, paramFeeds, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { transformerNet } from "../train/small-models.ts";

const build = transformerNet(2, 4, 8, 2);
const lora = { rank: 2, alpha: 4, targets: ["attn.qkv", "*.proj"] };
const rng = makeRng(5);
const data = { x: f32([2, 4, 8], rng.fillNormal(new Float32Array(64))), target: f32([2, 4, 8], rng.fillNormal(new Float32Array(64))) };

describe("LoRA adapters", () => {
  it("adds A/B pairs only to the targeted linear layers", () => {
    const names = compileForward("lora", build, { lora }).params.map((p) => p.name).filter(isAdapterParam);
    expect(names.sort()).toEqual(["block.attn.proj.lora_A", "block.attn.proj.lora_B", "block.attn.qkv.lora_A", "block.attn.qkv.lora_B"]);
  });

  it("starts exactly at the base model and trains only adapter weights", async () => {
    const base = compileForward("base", build);
    const adapted = compileTrainStep("adapted", build, isAdapterParam, { lora });
    const baseParams = initParams(base.params, 9);
    const params = initParams(adapted.params, 9);
    const frozenBefore = params.filter((p) => !isAdapterParam(p.name)).map((p) => p.data.slice());
    const baseSession = await LocalSession.create("base", base.bytes);
    const adaptedSession = await LocalSession.create("adapted", adapted.bytes);
    const baseOut = await baseSession.run({ ...paramFeeds(baseParams), ...data }, ["prediction"]);
    const first = await runTrainStep(adaptedSession, adapted, params, data);
    expect(Array.from(first.outputs.prediction!.data as Float32Array)).toEqual(Array.from(baseOut.prediction!.data as Float32Array));
    expect(adapted.trainable.every(isAdapterParam)).toBe(true);
    const optimizer = adamW(params, { lr: 1e-2, weightDecay: 0, trainable: adapted.trainable });
    let loss = first.loss;
    for (let i = 0; i < 50; i++) {
      const step = await runTrainStep(adaptedSession, adapted, params, data);
      optimizer.step(step.grads);
      loss = step.loss;
    }
    expect(loss).toBeLessThan(first.loss * 0.8);
    params.filter((p) => !isAdapterParam(p.name)).forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(frozenBefore[i]!)));
  });
});
