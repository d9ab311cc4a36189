/**
 * The generator being fine-tuned, assembled from the pipeline file: pretrained weights, the text encoder,
 * the guided-velocity session the sampler integrates, the learner's loss graph and optimiser, and the EMA.
 * Sampler batches and learner micro-batches are one group each, so the learner recomputes log-probs on
 * exactly the batches that sampled them (the on-policy check).
 */
import { fileURLToPath } from "node:url";
import { FlowSampler } from "../flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../flow/schedule.ts";
import { cpsMethod, odeMethod, sdeMethod, type StepMethod, type StochasticMethod } from "../flow/steps.ts";
import { loadGeneratorWeights } from "../models/generator/weights.ts";
import { bagOfWordsEncoder } from "../models/text/bag-of-words.ts";
import type { TextEncoderPort } from "../models/text/port.ts";
import { initParams, isAdapterParam } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { Ema } from "../optim/ema.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { cloneParams, type ParamSet } from "../optim/param-set.ts";
import { awmLossModel } from "../rl/awm-loss.ts";
import { forwardPlan } from "../rl/forward-plan.ts";
import { GeneratorLearner, windowPlan } from "../rl/learner.ts";
import { nftLossModel } from "../rl/nft-loss.ts";
import { guidedVelocityModel, OLD_SCOPE, type PolicyConfig, policyLossModel, REFERENCE_SCOPE } from "../rl/policy-graph.ts";
import { PolicySampler, type TextEmbeddings } from "../rl/policy-sampler.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { compileForward, compileTrainStep } from "../train/train-graph.ts";
import type { PipelineConfig } from "./config/schema.ts";

export const EMBEDDED_GENERATOR = fileURLToPath(new URL("../../weights/generator/generator.safetensors", import.meta.url));

export interface Policy {
  readonly config: PolicyConfig;
  readonly text: TextEncoderPort;
  /** The weights the learner trains (velocity network, plus adapters with LoRA), updated in place. */
  readonly params: ParamSet;
  readonly optimizer: Optimizer;
  readonly ema: Ema | undefined;
  readonly sampler: PolicySampler;
  readonly learner: GeneratorLearner;
  /** Samples held-out prompts with the ODE for evaluation, at `evalBatch` images per call. */
  readonly evaluationSampler: PolicySampler;
  readonly evalBatch: number;
  embed(prompts: readonly string[]): Promise<TextEmbeddings>;
  release(): Promise<void>;
}

const samplingMethod = (sampler: PipelineConfig["sampler"]): StepMethod =>
  sampler.kind === "ode" ? odeMethod : sampler.kind === "sde" ? sdeMethod(sampler.noiseLevel) : cpsMethod(sampler.noiseLevel, sampler.logProb);

const requireStochastic = (method: StepMethod): StochasticMethod => {
  if (method.kind === "ode") throw new Error("sampler.kind: ode has no log-probs for learner.objective: grpo; use cps or sde");
  return method;
};

/** The objective's loss graph, its micro-batch plan, and whether it reads the sampling policy's weights. */
const objectiveOf = (config: PipelineConfig, policy: PolicyConfig, method: StepMethod, latentShape: readonly number[]) => {
  const { learner: l, sampler: s } = config;
  // CFG-free training evaluates the conditional branch alone, whatever guided the samples.
  const trained: PolicyConfig = l.guidance === "none" ? { ...policy, cfgWeight: 1 } : policy;
  const schedule = sigmaSchedule(s.steps, s.shift);
  if (l.objective === "nft") {
    return {
      model: nftLossModel({ ...trained, beta: l.nft.beta, advantageClip: l.advantageClip, klBeta: l.klBeta }),
      plan: forwardPlan({ kind: "nft", count: l.nft.timesteps }, schedule, latentShape),
      readsSamplingPolicy: true,
    };
  }
  if (l.objective === "awm") {
    return {
      model: awmLossModel({ ...trained, weighting: l.awm.weighting, ghuberPower: l.awm.ghuberPower, advantageClip: l.advantageClip, klBeta: l.klBeta }),
      plan: forwardPlan({ kind: "awm", count: l.awm.timesteps, fraction: l.awm.timestepFraction }, schedule, latentShape),
      readsSamplingPolicy: false,
    };
  }
  return {
    model: policyLossModel({ ...trained, method: requireStochastic(method), clipRange: l.clipRange, klBeta: l.klBeta, ratioNormalisation: l.ratioNormalisation }),
    plan: windowPlan(latentShape),
    readsSamplingPolicy: l.ratioNormalisation === "grpo-guard",
  };
};

/**
 * Prompts embedded with the conditional encoder; the unconditional branch is the empty prompt's embedding. The
 * encoder is frozen, so each distinct prompt is encoded once per run, on its own (whatever batch asks first,
 * the embedding is the same), and sampling, learning and evaluation reuse it.
 */
const embedder = (text: TextEncoderPort) => {
  const known = new Map<string, Float32Array>();
  const pooledOf = async (prompt: string): Promise<Float32Array> => {
    let pooled = known.get(prompt);
    if (!pooled) {
      pooled = ((await text.encode([prompt])).pooled!.data as Float32Array).slice(0, text.width);
      known.set(prompt, pooled);
    }
    return pooled;
  };
  return async (prompts: readonly string[]): Promise<TextEmbeddings> => {
    const width = text.width;
    const pooled = new Float32Array(prompts.length * width);
    const pooledUncond = new Float32Array(prompts.length * width);
    const uncond = await pooledOf("");
    for (const [i, prompt] of prompts.entries()) {
      pooled.set(await pooledOf(prompt), i * width);
      pooledUncond.set(uncond, i * width);
    }
    return { pooled, pooledUncond };
  };
};

export const buildPolicy = async (config: PipelineConfig, execution: ExecutionConfig): Promise<Policy> => {
  if (config.generator.kind !== "embedded") {
    throw new Error("generator.kind 'onnx': external generators are validated (src/models/generator/contract.ts) but RL fine-tuning through them is not implemented yet; use the embedded generator");
  }
  const file = config.generator.checkpoint === "embedded" ? EMBEDDED_GENERATOR : config.generator.checkpoint;
  const weights = await loadGeneratorWeights(file);
  const net = weights.config;
  if (net.size !== config.generator.sampleSize || net.channels !== config.generator.latentChannels) {
    throw new Error(`${file}: the generator samples ${net.channels}x${net.size}x${net.size}, but generator.sampleSize / latentChannels say ${config.generator.latentChannels}x${config.generator.sampleSize}x${config.generator.sampleSize}`);
  }
  const { sampler: s, learner: l } = config;
  const lora = l.lora ? { rank: l.lora.rank, alpha: l.lora.alpha, targets: l.lora.targets } : undefined;
  const policy: PolicyConfig = { net, batch: s.groupSize, cfgWeight: s.cfgWeight };
  const method = samplingMethod(s);
  const latentShape = [net.channels, net.size, net.size];
  const objective = objectiveOf(config, policy, method, latentShape);
  const velocityGraph = compileForward("policy-velocity", guidedVelocityModel(policy), { lora });
  const frozen = [REFERENCE_SCOPE, OLD_SCOPE].map((scope) => `${scope}.`);
  const trainable = (name: string) => !frozen.some((prefix) => name.startsWith(prefix)) && (lora ? isAdapterParam(name) : true);
  const lossGraph = compileTrainStep(`${l.objective}-loss`, objective.model, trainable, { lora });

  // Pretrained weights by name; adapters (absent from the file) start from their init (B = 0: the base model).
  const pretrained = new Map(weights.params.map((p) => [p.name, p]));
  const fresh = initParams(velocityGraph.params, config.run.seed);
  const params = fresh.map((p) => pretrained.get(p.name) ?? p).map((p) => ({ ...p, data: p.data.slice() }));
  const scoped = (scope: string) => cloneParams(params).map((p) => ({ ...p, name: `${scope}.${p.name}` }));
  const reference = l.klBeta > 0 ? scoped(REFERENCE_SCOPE) : [];
  const old = objective.readsSamplingPolicy ? scoped(OLD_SCOPE) : [];
  const optimizer = adamW(params, { lr: l.lr, betas: l.betas, eps: l.epsilon, weightDecay: l.weightDecay, trainable: lossGraph.trainable });
  const ema = l.ema.enabled ? new Ema(params, { maxDecay: l.ema.maxDecay, every: l.ema.every }) : undefined;

  const schedule = sigmaSchedule(s.steps, s.shift);
  const velocitySession = await LocalSession.create(velocityGraph.name, velocityGraph.bytes, execution);
  const flow = FlowSampler.create({ latentShape, schedule, window: sdeWindow(s.steps, s.window.size, s.window.start), method, execution });
  const evalBatch = config.eval.seeds.length;
  const evalPolicy = { ...policy, batch: evalBatch };
  const evalGraph = compileForward("policy-velocity-eval", guidedVelocityModel(evalPolicy), { lora });
  const evalSession = await LocalSession.create(evalGraph.name, evalGraph.bytes, execution);
  const evalFlow = FlowSampler.create({ latentShape, schedule: sigmaSchedule(s.evalSteps, s.shift), window: sdeWindow(s.evalSteps, 0, 0), method: odeMethod, execution });
  const lossSession = await LocalSession.create(lossGraph.name, lossGraph.bytes, execution);
  const text = bagOfWordsEncoder(weights.params);
  const learnerParams = [...params, ...reference, ...old];
  return {
    config: policy,
    text,
    params,
    optimizer,
    ema,
    // Only GRPO learns from the window's transitions; the other objectives need the image alone.
    sampler: new PolicySampler(policy, velocitySession, flow, { recordTrajectories: l.objective === "grpo" }),
    learner: new GeneratorLearner({
      graph: lossGraph,
      runner: lossSession,
      params: learnerParams,
      optimizer,
      ema,
      plan: objective.plan,
      ...(objective.readsSamplingPolicy ? { samplingPolicy: { live: params, old } } : {}),
      options: { maxGradNorm: l.gradClip },
    }),
    evaluationSampler: new PolicySampler(evalPolicy, evalSession, evalFlow),
    evalBatch,
    embed: embedder(text),
    release: async () => {
      await Promise.all([velocitySession.release(), lossSession.release(), evalSession.release(), flow.release(), evalFlow.release()]);
    },
  };
};
