/**
 * Sampling throughput of the default generator at the default group size: images per second for the
 * evaluation ODE and for the training sampler (SDE window, log-probs recorded), both with CFG.
 */
import { FlowSampler } from "../flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../flow/schedule.ts";
import { cpsMethod, odeMethod, type StepMethod } from "../flow/steps.ts";
import { defaultDiTConfig } from "../models/generator/dit.ts";
import { initParams } from "../nn/params.ts";
import { pixelDecoder } from "../models/generator/decoder.ts";
import { ditNetwork, guidedVelocityModel } from "../rl/policy-graph.ts";
import { PolicySampler } from "../rl/policy-sampler.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { compileForward } from "../train/train-graph.ts";
import { makeRng } from "../util/prng.ts";
import { measure } from "../util/measure.ts";

interface SamplingBench {
  readonly name: string;
  readonly imagesPerSecond: number;
}

export const benchSampling = async (o: { batch: number; steps: number; cfgWeight: number; runs: number }): Promise<SamplingBench[]> => {
  const net = defaultDiTConfig;
  const policy = { net: ditNetwork(net), batch: o.batch, cfgWeight: o.cfgWeight };
  const graph = compileForward("bench-velocity", guidedVelocityModel(policy));
  const rng = makeRng(1);
  // Timing does not depend on the values; non-zero weights keep the arithmetic honest.
  const params = initParams(graph.params, 1).map((p) => ({ ...p, data: p.data.map(() => 0.02 * rng.normal()) }));
  const session = await LocalSession.create(graph.name, graph.bytes);
  const text = { pooled: rng.fillNormal(new Float32Array(o.batch * net.textWidth)), pooledUncond: rng.fillNormal(new Float32Array(o.batch * net.textWidth)) };
  const keys = Array.from({ length: o.batch }, (_, member) => ({ runId: "bench", epoch: 0, policyVersion: 0, prompt: "", promptIndex: 0, groupId: 0, member, seed: member }));
  const results: SamplingBench[] = [];
  const variants: [string, StepMethod, number][] = [
    [`ODE, ${o.steps} steps`, odeMethod, 0],
    [`Flow-CPS, ${o.steps} steps, window 2`, cpsMethod(0.8), 2],
  ];
  for (const [name, method, window] of variants) {
    const flow = FlowSampler.create({ latentShape: [net.channels, net.size, net.size], schedule: sigmaSchedule(o.steps, 1), window: sdeWindow(o.steps, window, 0), method });
    const sampler = new PolicySampler(policy, session, flow, pixelDecoder(net.size));
    const t = await measure(() => sampler.sample(keys, text, params), o.runs, 1);
    results.push({ name, imagesPerSecond: (1000 * o.batch) / t.medianMs });
    await flow.release();
  }
  await session.release();
  return results;
};
