import { describe, expect, it } from "vitest";
import { initParams } from "../../src/nn/params.ts";
import { adamW } from "../../src/optim/adam.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { compileTrainStep, type ModelBuilder, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { modelGradCheck } from "../autodiff/gradcheck.ts";
import { convNet, transformerNet } from "./small-models.ts";

const randomFeed = (shape: number[], seed: number) => {
  const rng = makeRng(seed);
  return f32(shape, rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))));
};

const models: Record<string, { build: ModelBuilder; x: number[]; target: number[] }> = {
  "conv net (conv, stride 2, GroupNorm, SiLU)": { build: convNet(2, 8), x: [2, 3, 8, 8], target: [2, 3, 4, 4] },
  "transformer block (attention, LayerNorm, GELU MLP)": { build: transformerNet(2, 5, 8, 2), x: [2, 5, 8], target: [2, 5, 8] },
};

describe("whole small models", () => {
  for (const [name, m] of Object.entries(models)) {
    const data = { x: randomFeed(m.x, 1), target: randomFeed(m.target, 2) };

    it(`${name}: gradients match finite differences end to end`, async () => {
      const report = await modelGradCheck(m.build, data, { samplesPerParam: 6 });
      expect(report.checked).toBeGreaterThan(30);
    });

    it(`${name}: fits a fixed batch through ORT graphs only (loss falls >= 100x)`, async () => {
      const graph = compileTrainStep("fit", m.build);
      const params = initParams(graph.params, 11);
      const optimizer = adamW(params, { lr: 1e-2, weightDecay: 0 });
      const session = await LocalSession.create(graph.name, graph.bytes);
      let first = Number.NaN;
      let last = Number.NaN;
      for (let step = 0; step < 400; step++) {
        const { loss, grads } = await runTrainStep(session, graph, params, data);
        if (step === 0) first = loss;
        last = loss;
        optimizer.step(grads);
      }
      await session.release();
      expect(first / last).toBeGreaterThanOrEqual(100);
    });
  }
});
