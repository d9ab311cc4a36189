/**
 * Bounded micro-batches (learner.microBatch): a group's window step cut into slices of m members, one loss-graph
 * run each, gives the step of the whole group up to float rounding, and the first ratio of an epoch stays exactly 1.
 */
import { describe, expect, it } from "vitest";
import { FlowSampler } from "../../src/flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../../src/flow/schedule.ts";
import { cpsMethod } from "../../src/flow/steps.ts";
import type { DiTConfig } from "../../src/models/generator/dit.ts";
import { pixelDecoder } from "../../src/models/generator/decoder.ts";
import { initParams } from "../../src/nn/params.ts";
import { cloneParams } from "../../src/optim/param-set.ts";
import { sgd } from "../../src/optim/sgd.ts";
import { GeneratorLearner, windowPlan } from "../../src/rl/learner.ts";
import { sliceFeeds } from "../../src/rl/micro-batches.ts";
import { ditNetwork, guidedVelocityModel, policyLossModel } from "../../src/rl/policy-graph.ts";
import { PolicySampler } from "../../src/rl/policy-sampler.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32, hostTensor } from "../../src/runtime/tensors.ts";
import { compileForward, compileTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

describe("sliceFeeds", () => {
  it("cuts every batch-first feed into consecutive slices of m members", () => {
    const feeds = { x: f32([4, 2], [0, 1, 2, 3, 4, 5, 6, 7]), s: f32([4], [10, 11, 12, 13]), i: hostTensor("int64", [4], BigInt64Array.of(1n, 2n, 3n, 4n)) };
    const slices = sliceFeeds(feeds, 2);
    expect(slices.map((f) => f.x!.shape)).toEqual([[2, 2], [2, 2]]);
    expect(slices.map((f) => Array.from(f.x!.data as Float32Array))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(slices.map((f) => Array.from(f.s!.data as Float32Array))).toEqual([[10, 11], [12, 13]]);
    expect(slices.map((f) => Array.from(f.i!.data as BigInt64Array))).toEqual([[1n, 2n], [3n, 4n]]);
    expect(sliceFeeds(feeds, 4)).toEqual([feeds]);
  });

  it("refuses a batch m does not divide, and a feed that is not batch-first", () => {
    expect(() => sliceFeeds({ x: f32([3], [1, 2, 3]) }, 2)).toThrow(/a batch of 3 members does not split into micro-batches of 2/);
    expect(() => sliceFeeds({ x: f32([4], [1, 2, 3, 4]), w: f32([2, 2], [1, 2, 3, 4]) }, 2)).toThrow(/feed 'w' has leading dimension 2, the others 4/);
  });
});

const net: DiTConfig = { channels: 3, size: 8, patch: 4, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 };
const group = 4;
const method = cpsMethod(0.8);

/** One group sampled with the group-sized velocity graph; a learner whose loss graph takes `members` at a time. */
const learnerWith = async (members: number) => {
  const policy = { net: ditNetwork(net), batch: group, cfgWeight: 3 };
  const velocityGraph = compileForward("velocity", guidedVelocityModel(policy));
  const lossGraph = compileTrainStep("policy-loss", policyLossModel({ ...policy, batch: members, method, clipRange: 1e-2, klBeta: 0, ratioNormalisation: "none" }));
  const rng = makeRng(4);
  const params = initParams(velocityGraph.params, 1).map((p) => ({ ...p, data: p.data.map(() => 0.3 * rng.normal()) }));
  const velocity = await LocalSession.create("velocity", velocityGraph.bytes);
  const sampler = new PolicySampler(policy, velocity, FlowSampler.create({ latentShape: [3, 8, 8], schedule: sigmaSchedule(4, 1), window: sdeWindow(4, 2, 0), method }), pixelDecoder(8));
  const text = { pooled: rng.fillNormal(new Float32Array(group * 8)), pooledUncond: rng.fillNormal(new Float32Array(group * 8)) };
  const keys = Array.from({ length: group }, (_, member) => ({ runId: "t", epoch: 0, policyVersion: 0, prompt: "p", promptIndex: 0, groupId: 0, member, seed: 100 + member }));
  const rollouts = (await sampler.sample(keys, text, params)).map((r, i) => ({ ...r, advantage: [1, -1, 0.5, -0.5][i]! })) as never[];
  await velocity.release();
  const trained = cloneParams(params);
  const runner = await LocalSession.create("policy-loss", lossGraph.bytes);
  const learner = new GeneratorLearner({
    graph: lossGraph,
    runner,
    params: trained,
    optimizer: sgd(trained, { lr: 0.5 }),
    plan: windowPlan(policy),
    options: { maxGradNorm: 1e6, ...(members !== group ? { microBatch: members } : {}) },
  });
  return { learner, trained, batches: [{ rollouts, ...text }], release: () => runner.release() };
};

describe("learner micro-batches", () => {
  it("slices of 1 and 2 members give the whole group's step within float tolerance, first ratio exactly 1", async () => {
    const whole = await learnerWith(group);
    const expected = [await whole.learner.step(whole.batches), await whole.learner.step(whole.batches)];
    expect(expected[0]!.microBatches).toBe(2); // two window steps
    for (const members of [1, 2]) {
      const sliced = await learnerWith(members);
      const first = await sliced.learner.step(sliced.batches);
      expect(first.microBatches).toBe(2 * (group / members));
      expect(first.transitions).toBe(expected[0]!.transitions);
      expect(first.ratioMin).toBe(1);
      expect(first.ratioMax).toBe(1);
      const second = await sliced.learner.step(sliced.batches);
      for (const [got, want] of [[first, expected[0]!], [second, expected[1]!]] as const) {
        for (const key of ["loss", "gradNorm", "ratioMean", "ratioMin", "ratioMax", "approxKl", "clipFracHigh", "clipFracLow"]) {
          expect(Math.abs(got[key]! - want[key]!), `${members} members: ${key}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[key]!)));
        }
      }
      // The second step's ratios moved (the weights changed), so the comparison above is not of constants.
      expect(expected[1]!.ratioMax - expected[1]!.ratioMin).toBeGreaterThan(0);
      let maxDiff = 0;
      sliced.trained.forEach((p, i) => p.data.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - whole.trained[i]!.data[k]!)))));
      expect(maxDiff).toBeLessThan(1e-6);
      await sliced.release();
    }
    await whole.release();
  });
});
