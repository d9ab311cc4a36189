/**
 * The on-policy check of docs/algorithm.md §5: sampling records logp_old with the sampler's graphs; the
 * learner recomputes logp with its training graph; with one batch and no update in between the ratio must be
 * exactly 1, the clip fraction 0 and approx_kl 0.
 */
import { describe, expect, it } from "vitest";
import { FlowSampler } from "../../src/flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../../src/flow/schedule.ts";
import { cpsMethod, sdeMethod, type StochasticMethod } from "../../src/flow/steps.ts";
import type { DiTConfig } from "../../src/models/generator/dit.ts";
import { initParams } from "../../src/nn/params.ts";
import { adamW } from "../../src/optim/adam.ts";
import { GeneratorLearner, windowPlan } from "../../src/rl/learner.ts";
import { pixelDecoder } from "../../src/models/generator/decoder.ts";
import { ditNetwork, guidedVelocityModel, policyLossModel } from "../../src/rl/policy-graph.ts";
import { PolicySampler } from "../../src/rl/policy-sampler.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { compileForward, compileTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

const net: DiTConfig = { channels: 3, size: 8, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 };
const batch = 4;

const setup = async (method: StochasticMethod, cfgWeight: number) => {
  const policy = { net: ditNetwork(net), batch, cfgWeight };
  const velocityGraph = compileForward("velocity", guidedVelocityModel(policy));
  const lossGraph = compileTrainStep("policy-loss", policyLossModel({ ...policy, method, clipRange: 1e-5, klBeta: 0, ratioNormalisation: "none" }));
  // adaLN-zero starts at a zero velocity; random weights everywhere make the check non-trivial.
  const rng = makeRng(4);
  const params = initParams(velocityGraph.params, 1).map((p) => ({ ...p, data: p.data.map(() => 0.3 * rng.normal()) }));
  const sampler = new PolicySampler(
    policy,
    await LocalSession.create("velocity", velocityGraph.bytes),
    FlowSampler.create({ latentShape: [3, 8, 8], schedule: sigmaSchedule(4, 1), window: sdeWindow(4, 2, 0), method }),
    pixelDecoder(8),
  );
  const text = { pooled: rng.fillNormal(new Float32Array(batch * 8)), pooledUncond: rng.fillNormal(new Float32Array(batch * 8)) };
  const keys = Array.from({ length: batch }, (_, member) => ({ runId: "t", epoch: 0, policyVersion: 0, prompt: "p", promptIndex: 0, groupId: 0, member, seed: 100 + member }));
  const rollouts = (await sampler.sample(keys, text, params)).map((r, i) => ({ ...r, advantage: [1, -1, 0.5, -0.5][i]! })) as never[];
  const learner = new GeneratorLearner({
    graph: lossGraph,
    runner: await LocalSession.create("policy-loss", lossGraph.bytes),
    params,
    optimizer: adamW(params, { lr: 1e-2 }),
    plan: windowPlan(policy),
    options: { maxGradNorm: 1 },
  });
  return { learner, batches: [{ rollouts, ...text }] };
};

describe("on-policy check: the first ratio of an epoch is exactly 1", () => {
  for (const [name, method, cfg] of [
    ["Flow-CPS with CFG", cpsMethod(0.8), 3],
    ["Flow-SDE without CFG", sdeMethod(0.7), 1],
  ] as const) {
    it(name, async () => {
      const { learner, batches } = await setup(method, cfg);
      const first = await learner.step(batches);
      expect(first!.ratioMin).toBe(1);
      expect(first!.ratioMax).toBe(1);
      expect(first!.clipFracHigh).toBe(0);
      expect(first!.clipFracLow).toBe(0);
      expect(first!.approxKl).toBe(0);
      expect(first!.ratioStd).toBe(0);
      expect(first!.gradNorm).toBeGreaterThan(0);
      // After the update the same transitions are off-policy: the ratio moves.
      const second = await learner.step(batches);
      expect(second!.ratioMax - second!.ratioMin).toBeGreaterThan(0);
      // The step's ratio spread (pooled over its window-step micro-batches) is positive and, like any std,
      // at most half the range; the per-micro-batch variance it is pooled from is not a step statistic.
      expect(second!.ratioStd).toBeGreaterThan(0);
      expect(second!.ratioStd).toBeLessThanOrEqual((second!.ratioMax - second!.ratioMin) / 2);
      expect(Object.keys(second!)).not.toContain("ratioVariance");
    });
  }
});
