/**
 * The on-policy check of an imported generator, piece by piece: its two policy graphs at given sizes (the
 * sampler's guided velocity and the GRPO loss, with LoRA), SDE transitions sampled through a velocity session,
 * and the learner's log-probs of them. The pipeline's exactness needs the learner's log-probs to equal the
 * sampler's bit for bit; a float32 ratio can round to 1 over a difference of ~1e-8, so the log-probs are the test.
 */
import { FlowSampler } from "../flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../flow/schedule.ts";
import { cpsMethod } from "../flow/steps.ts";
import type { OnnxModel } from "../graph/import.ts";
import { onnxNetwork } from "../models/generator/onnx-network.ts";
import { initParams, isAdapterParam } from "../nn/params.ts";
import { guidedVelocityModel, POLICY_INPUTS, type PolicyConfig, policyLossModel, textFeeds } from "../rl/policy-graph.ts";
import type { TrajectoryStep } from "../rollout/rollout.ts";
import { defaultExecution } from "../runtime/execution.ts";
import type { LocalSession } from "../runtime/local-session.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { type CompiledGraph, type CompiledTrainGraph, compileForward, compileTrainStep, paramFeeds } from "../train/train-graph.ts";
import { makeRng } from "../util/prng.ts";

interface ImportedPolicyGraphs {
  readonly velocity: CompiledGraph;
  readonly loss: CompiledTrainGraph;
  readonly latentShape: readonly [number, number, number];
  /** Adapter weights (B != 0, as after some training) and text embeddings, fed to both graphs. */
  readonly feeds: Feeds;
}

/** diffusers' SD3 dreambooth LoRA targets. */
const LORA = { rank: 16, alpha: 16, targets: ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out"] };
const METHOD = cpsMethod();

/** An SD3-class export (HF optimum's names) at `latentSize` latents and `textTokens` text tokens, batch 1. */
export const importedPolicyGraphs = (model: OnnxModel, o: { readonly latentSize: number; readonly textTokens: number; readonly cfgWeight: number }): ImportedPolicyGraphs => {
  const widthOf = (input: string, axis: number): number => {
    const d = model.signature.inputs.find((i) => i.name === input)?.shape[axis];
    if (typeof d !== "number") throw new Error(`${model.source}: input '${input}' has no fixed width (axis ${axis}); expected an SD3-class export with HF optimum's names`);
    return d;
  };
  const [tokenWidth, pooledWidth] = [widthOf("encoder_hidden_states", 2), widthOf("pooled_projections", 1)];
  const latentShape = [widthOf("hidden_states", 1), o.latentSize, o.latentSize] as const;
  const net = onnxNetwork(model, { latentShape, text: { pooledWidth, tokenShape: [o.textTokens, tokenWidth] }, timestepScale: 1000 });
  const policy: PolicyConfig = { net, batch: 1, cfgWeight: o.cfgWeight };
  const velocity = compileForward("policy-velocity", guidedVelocityModel(policy), { lora: LORA });
  const loss = compileTrainStep("grpo-loss", policyLossModel({ ...policy, method: METHOD, clipRange: 1e-4, klBeta: 0, ratioNormalisation: "none" }), isAdapterParam, { lora: LORA });
  const params = initParams(velocity.params, 1).map((p) => (p.name.endsWith("lora_B") ? { ...p, data: makeRng(2).fork(p.name).fillNormal(new Float32Array(p.data.length)).map((v) => v * 0.01) } : p));
  const rng = makeRng(3);
  const normal = (n: number) => rng.fillNormal(new Float32Array(n));
  const text = textFeeds(policy, { pooled: normal(pooledWidth), pooledUncond: normal(pooledWidth), tokens: normal(o.textTokens * tokenWidth), tokensUncond: normal(o.textTokens * tokenWidth) });
  return { velocity, loss, latentShape, feeds: { ...paramFeeds(params), ...text } };
};

/** The sampler's velocity function on a session of `graphs.velocity`. */
export const velocityOf = (graphs: ImportedPolicyGraphs, session: LocalSession) => async (x: Float32Array, sigma: Float32Array): Promise<Float32Array> =>
  (await session.run({ ...graphs.feeds, [POLICY_INPUTS.latents]: f32([1, ...graphs.latentShape], x), [POLICY_INPUTS.sigma]: f32([1], sigma) }, ["velocity"])).velocity!.data as Float32Array;

/** One recorded SDE transition per seed (a 2-step schedule, window on the first step), as the pipeline's sampler records them. */
export const sampleTransitions = async (graphs: ImportedPolicyGraphs, session: LocalSession, seeds: readonly number[]): Promise<TrajectoryStep[]> => {
  const flow = FlowSampler.create({ latentShape: graphs.latentShape, schedule: sigmaSchedule(2, 3), window: sdeWindow(2, 1, 0), method: METHOD, execution: defaultExecution });
  try {
    const steps: TrajectoryStep[] = [];
    for (const seed of seeds) steps.push((await flow.sample(velocityOf(graphs, session), [seed])).trajectories[0]![0]!);
    return steps;
  } finally {
    await flow.release();
  }
};

/** The learner's view of the sampled transitions: largest |log-prob difference| from the sampler's, and the ratios' extremes. */
export const learnerAgreement = async (graphs: ImportedPolicyGraphs, session: LocalSession, steps: readonly TrajectoryStep[]) => {
  let [ratioMin, ratioMax, maxLogProbDiff] = [Infinity, -Infinity, 0];
  for (const step of steps) {
    const scalar = (v: number) => f32([1], Float32Array.of(v));
    const out = await session.run(
      {
        ...graphs.feeds,
        [POLICY_INPUTS.latents]: f32([1, ...graphs.latentShape], step.x),
        [POLICY_INPUTS.latentsNext]: f32([1, ...graphs.latentShape], step.xNext),
        [POLICY_INPUTS.sigma]: scalar(step.sigma),
        [POLICY_INPUTS.sigmaNext]: scalar(step.sigmaNext),
        [POLICY_INPUTS.logProbOld]: scalar(step.logProb),
        [POLICY_INPUTS.advantages]: scalar(1),
      },
      ["ratioMin", "ratioMax", "logProb"],
    );
    ratioMin = Math.min(ratioMin, Number(out.ratioMin!.data[0]));
    ratioMax = Math.max(ratioMax, Number(out.ratioMax!.data[0]));
    maxLogProbDiff = Math.max(maxLogProbDiff, Math.abs(Number(out.logProb!.data[0]) - step.logProb));
  }
  return { ratioMin, ratioMax, maxLogProbDiff };
};
