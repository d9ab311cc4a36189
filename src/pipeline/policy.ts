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
import { OnnxImportError } from "../graph/errors.ts";
import { type AdapterSite, type LoadOptions, loadOnnx, type OnnxModel } from "../graph/import.ts";
import { estimateMemory, type MemoryEstimate } from "../graph/memory.ts";
import { type LatentDecoder, pixelDecoder } from "../models/generator/decoder.ts";
import { onnxNetwork } from "../models/generator/onnx-network.ts";
import { loadVaeDecoder } from "../models/generator/vae.ts";
import { loadGeneratorWeights } from "../models/generator/weights.ts";
import { bagOfWordsEncoder } from "../models/text/bag-of-words.ts";
import { checkPromptsEmbedded, loadEmbeddingsFile } from "../models/text/embeddings-file.ts";
import { loadOnnxTextEncoder } from "../models/text/onnx-encoder.ts";
import type { TextEncoderPort } from "../models/text/port.ts";
import { initParams, isAdapterParam } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { Ema } from "../optim/ema.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { cloneParams, type ParamSet, type ParamTensor } from "../optim/param-set.ts";
import { awmLossModel } from "../rl/awm-loss.ts";
import { forwardPlan } from "../rl/forward-plan.ts";
import { type CleanSource, GeneratorLearner, windowPlan } from "../rl/learner.ts";
import { nftLossModel } from "../rl/nft-loss.ts";
import { ditNetwork, guidedVelocityModel, OLD_SCOPE, type PolicyConfig, policyLossModel, REFERENCE_SCOPE, type TextEmbeddings, type VelocityNetwork } from "../rl/policy-graph.ts";
import { PolicySampler } from "../rl/policy-sampler.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { GraphSessions } from "../train/open-graph.ts";
import { type CompiledGraph, compileForward, compileTrainStep } from "../train/train-graph.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { ConfiguredFileError } from "./configured-files.ts";
import { heldOutPrompts, trainingPrompts } from "./prompts.ts";

const EMBEDDED_GENERATOR = fileURLToPath(new URL("../../weights/generator/generator.safetensors", import.meta.url));

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
  /** Height = width of the generated images (the VAE decoder's output for a latent generator). */
  readonly imageSize: number;
  /** Where an imported generator's LoRA adapters sit (for the peft-named adapter file); absent for the embedded DiT. */
  readonly adapters?: () => readonly AdapterSite[];
  /** The adapters' rank and alpha, with learner.lora. */
  readonly lora?: { readonly rank: number; readonly alpha: number };
  /** The learner's loss graph's memory from its own tensor sizes (graph/memory.ts), at learner.microBatch members per run. */
  readonly learnerMemory: MemoryEstimate & { readonly members: number };
  embed(prompts: readonly string[]): Promise<TextEmbeddings>;
  release(): Promise<void>;
}

const samplingMethod = (sampler: PipelineConfig["sampler"]): StepMethod =>
  sampler.kind === "ode" ? odeMethod : sampler.kind === "sde" ? sdeMethod(sampler.noiseLevel) : cpsMethod(sampler.noiseLevel, sampler.logProb);

const requireStochastic = (method: StepMethod): StochasticMethod => {
  if (method.kind === "ode") throw new Error("sampler.kind: ode has no log-probs for learner.objective: grpo; use cps or sde");
  return method;
};

/**
 * The objective's loss graph, its micro-batch plan, and whether it reads the sampling policy's weights. The plan
 * cuts whole sampler batches; the graph is compiled for learner.microBatch members of them (the learner slices).
 */
const objectiveOf = (config: PipelineConfig, policy: PolicyConfig, method: StepMethod, clean: CleanSource) => {
  const { learner: l, sampler: s } = config;
  // CFG-free training evaluates the conditional branch alone, whatever guided the samples.
  const planned: PolicyConfig = l.guidance === "none" ? { ...policy, cfgWeight: 1 } : policy;
  const trained: PolicyConfig = { ...planned, batch: l.microBatch ?? policy.batch };
  const schedule = sigmaSchedule(s.steps, s.shift);
  if (l.objective === "nft") {
    return {
      model: nftLossModel({ ...trained, beta: l.nft.beta, advantageClip: l.advantageClip, klBeta: l.klBeta }),
      plan: forwardPlan({ kind: "nft", count: l.nft.timesteps }, schedule, planned, clean),
      readsSamplingPolicy: true,
    };
  }
  if (l.objective === "awm") {
    return {
      model: awmLossModel({ ...trained, weighting: l.awm.weighting, ghuberPower: l.awm.ghuberPower, advantageClip: l.advantageClip, klBeta: l.klBeta }),
      plan: forwardPlan({ kind: "awm", count: l.awm.timesteps, fraction: l.awm.timestepFraction }, schedule, planned, clean),
      readsSamplingPolicy: false,
    };
  }
  return {
    model: policyLossModel({ ...trained, method: requireStochastic(method), clipRange: l.clipRange, klBeta: l.klBeta, ratioNormalisation: l.ratioNormalisation }),
    plan: windowPlan(planned),
    readsSamplingPolicy: l.ratioNormalisation === "grpo-guard",
  };
};

/** One prompt's encoding: the pooled embedding, and per-token embeddings for encoders that give them. */
interface PromptEncoding {
  readonly pooled: Float32Array;
  readonly tokens: Float32Array | undefined;
}

/** The rows of `parts` one after another. */
const stacked = (parts: readonly Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
};

/**
 * Prompts embedded with the conditional encoder; the unconditional branch is the empty prompt's embedding. The
 * encoder is frozen, so each distinct prompt is encoded once per run, on its own (whatever batch asks first,
 * the embedding is the same), and sampling, learning and evaluation reuse it.
 */
const embedder = (text: TextEncoderPort) => {
  const known = new Map<string, Promise<PromptEncoding>>();
  const encodingOf = (prompt: string): Promise<PromptEncoding> => {
    let encoding = known.get(prompt);
    if (!encoding) {
      encoding = (async () => {
        const encoded = await text.encode([prompt]);
        return { pooled: (encoded.pooled!.data as Float32Array).slice(), tokens: (encoded.tokens?.data as Float32Array | undefined)?.slice() };
      })();
      known.set(prompt, encoding);
    }
    return encoding;
  };
  return async (prompts: readonly string[]): Promise<TextEmbeddings> => {
    const conditional = await Promise.all(prompts.map(encodingOf));
    const empty = await encodingOf("");
    const pooled = stacked(conditional.map((e) => e.pooled));
    const pooledUncond = stacked(prompts.map(() => empty.pooled));
    if (!empty.tokens) return { pooled, pooledUncond };
    return { pooled, pooledUncond, tokens: stacked(conditional.map((e) => e.tokens!)), tokensUncond: stacked(prompts.map(() => empty.tokens!)) };
  };
};

/**
 * ORT's graph optimisations depend on each graph's consumers. On an imported SD3 transformer one basic rule,
 * DivMulFusion (Div(1, x) * y -> Div(y, x), taken only where the reciprocal has no other consumer), fires in the
 * sampler's forward graph but not in the learner's training graph, whose backward reuses the reciprocal of the RMS
 * norms: the two then round differently (log-probs 1e-10 apart, first ratios of 0.99999994). Without that rule the
 * other basic optimisations keep both bit-identical (measured on the tiny fixture and an SD3.5-Medium-width export,
 * src/bench/graph-optimisation.ts), and the forward is faster than with none.
 */
export const IMPORTED_POLICY_EXECUTION = { graphOptimization: "basic", disabledOptimizers: ["DivMulFusion"] } as const satisfies Partial<ExecutionConfig>;

/** What differs between the embedded generator and an imported one; everything else is built the same way. */
interface GeneratorParts {
  readonly net: VelocityNetwork;
  readonly text: TextEncoderPort;
  readonly decoder: LatentDecoder;
  /** Weights the run starts from, by name; parameters absent here (adapters) start from their init. */
  readonly pretrained: ReadonlyMap<string, ParamTensor>;
  /** Where the imported network's adapters sit, for the peft-named LoRA file. */
  readonly adapters?: () => readonly AdapterSite[];
  /** How the policy graphs run, where it differs from the pipeline's execution. */
  readonly policyExecution?: Partial<ExecutionConfig>;
  /** Drops the decoded weights the graphs were built from, once their sessions are open. */
  readonly releaseWeights?: () => void;
  release(): Promise<void>;
}

/** The embedded DiT's weights file, checked against the pipeline's latent size; every error names generator.checkpoint. */
export const loadEmbeddedGenerator = async (config: PipelineConfig) => {
  const file = config.generator.checkpoint === "embedded" ? EMBEDDED_GENERATOR : config.generator.checkpoint;
  const weights = await loadGeneratorWeights(file).catch((error: Error) => {
    throw new ConfiguredFileError({ field: "generator.checkpoint", reason: error.message });
  });
  const net = weights.config;
  if (net.size !== config.generator.sampleSize || net.channels !== config.generator.latentChannels) {
    const reason = `${file}: the generator samples ${net.channels}x${net.size}x${net.size}, but generator.sampleSize / latentChannels say ${config.generator.latentChannels}x${config.generator.sampleSize}x${config.generator.sampleSize}`;
    throw new ConfiguredFileError({ field: "generator.checkpoint", reason });
  }
  return { file, weights };
};

const embeddedParts = async (config: PipelineConfig): Promise<GeneratorParts> => {
  const { weights } = await loadEmbeddedGenerator(config);
  const net = weights.config;
  return {
    net: ditNetwork(net),
    text: bagOfWordsEncoder(weights.params),
    decoder: pixelDecoder(net.size),
    pretrained: new Map(weights.params.map((p) => [p.name, p])),
    release: async () => {},
  };
};

/** Reads a model file named by a pipeline field; an import error says which field named the file. */
const loadModelFile = (path: string, field: string, options: LoadOptions): OnnxModel => {
  try {
    return loadOnnx(path, options);
  } catch (error) {
    if (error instanceof OnnxImportError) throw new OnnxImportError({ source: `${error.source} (${field})`, reason: error.reason });
    throw error;
  }
};

/**
 * A user's export: text source, transformer and VAE decoder are each checked against the others' sizes and the
 * pipeline's prompts before any sampling, so a mismatched file fails at load naming file and tensor.
 */
const onnxParts = async (config: PipelineConfig, prompts: { train: readonly string[]; heldOut: readonly string[] }, execution: ExecutionConfig): Promise<GeneratorParts> => {
  const o = config.generator.onnx!;
  const owned: { release(): Promise<void> }[] = [];
  try {
    let text: TextEncoderPort;
    if (o.textEmbeddings !== undefined) {
      const file = loadEmbeddingsFile(o.textEmbeddings);
      checkPromptsEmbedded(file, prompts.train, "prompts.train");
      checkPromptsEmbedded(file, prompts.heldOut, "prompts.heldOut");
      text = file;
    } else {
      const encoder = await loadOnnxTextEncoder({ model: o.textEncoder!, tokenizer: o.tokenizer!, maxLength: o.maxTextLength }, execution);
      owned.push(encoder);
      text = encoder;
    }
    const { sampleSize, latentChannels } = config.generator;
    const latentShape = [latentChannels, sampleSize, sampleSize] as const;
    const net = onnxNetwork(loadModelFile(o.velocityModel, "generator.onnx.velocityModel", { float16: o.float16Weights }), {
      latentShape,
      text: { pooledWidth: text.width, ...(text.tokenShape ? { tokenShape: text.tokenShape } : {}) },
      timestepScale: o.timestepScale,
      ...(o.names ? { names: o.names } : {}),
    });
    const decoder =
      o.vaeDecoder === undefined
        ? pixelDecoder(sampleSize)
        : await loadVaeDecoder(loadModelFile(o.vaeDecoder, "generator.onnx.vaeDecoder", { float16: o.float16Weights }), { latentShape, scalingFactor: o.scalingFactor, shiftFactor: o.shiftFactor, batch: o.decodeBatch }, execution);
    owned.push(decoder);
    return {
      net,
      text,
      decoder,
      pretrained: new Map(),
      adapters: net.adapters,
      policyExecution: IMPORTED_POLICY_EXECUTION,
      releaseWeights: net.releaseWeights,
      release: async () => void (await Promise.all(owned.map((r) => r.release()))),
    };
  } catch (error) {
    await Promise.all(owned.map((r) => r.release()));
    throw error;
  }
};

/** The learner's loss graph of `net` as a run compiles it (`advgrpo plan` measures it too), with what goes into it. */
export const learnerGraph = (config: PipelineConfig, net: VelocityNetwork) => {
  const { sampler: s, learner: l } = config;
  const lora = l.lora ? { rank: l.lora.rank, alpha: l.lora.alpha, targets: l.lora.targets } : undefined;
  const policy: PolicyConfig = { net, batch: s.groupSize, cfgWeight: s.cfgWeight };
  const method = samplingMethod(s);
  // A VAE's image cannot give the latent x0 back, so a latent generator's sampler keeps it for nft and awm.
  const clean: CleanSource = config.generator.kind === "onnx" && config.generator.onnx?.vaeDecoder !== undefined ? "latent" : "image";
  const objective = objectiveOf(config, policy, method, clean);
  const frozen = [REFERENCE_SCOPE, OLD_SCOPE].map((scope) => `${scope}.`);
  const trainable = (name: string) => !frozen.some((prefix) => name.startsWith(prefix)) && (lora ? isAdapterParam(name) : true);
  const lossGraph = compileTrainStep(`${l.objective}-loss`, objective.model, trainable, { lora });
  return { lora, policy, method, clean, objective, lossGraph, members: l.microBatch ?? s.groupSize };
};

/** The embedded DiT or the user's ONNX export, whichever generator.kind names. */
const generatorParts = (config: PipelineConfig, execution: ExecutionConfig): Promise<GeneratorParts> =>
  config.generator.kind === "embedded" ? embeddedParts(config) : onnxParts(config, { train: trainingPrompts(config), heldOut: heldOutPrompts(config) }, execution);

/**
 * The trained weights, their optimiser and EMA, and the frozen copies the loss graph reads: pretrained weights by
 * name, adapters (absent from the file) from their init (B = 0: the base model).
 */
const trainedWeights = (config: PipelineConfig, parts: GeneratorParts, graph: CompiledGraph, learner: ReturnType<typeof learnerGraph>) => {
  const l = config.learner;
  const fresh = initParams(graph.params, config.run.seed);
  const params = fresh.map((p) => parts.pretrained.get(p.name) ?? p).map((p) => ({ ...p, data: p.data.slice() }));
  const scoped = (scope: string) => cloneParams(params).map((p) => ({ ...p, name: `${scope}.${p.name}` }));
  const reference = l.klBeta > 0 ? scoped(REFERENCE_SCOPE) : [];
  const old = learner.objective.readsSamplingPolicy ? scoped(OLD_SCOPE) : [];
  const optimizer = adamW(params, { lr: l.lr, betas: l.betas, eps: l.epsilon, weightDecay: l.weightDecay, trainable: learner.lossGraph.trainable });
  const ema = l.ema.enabled ? new Ema(params, { maxDecay: l.ema.maxDecay, every: l.ema.every }) : undefined;
  return { params, reference, old, optimizer, ema };
};

/**
 * Opens the three policy graphs: the sampler's guided velocity, the evaluation batch's, and the learner's loss.
 * Once all are open they read their weights from their sessions, so the run keeps neither the graphs nor the
 * import they were built from (one more copy of an imported generator's weights otherwise), only what it runs.
 */
const openPolicySessions = async (config: PipelineConfig, parts: GeneratorParts, execution: ExecutionConfig, graphs: { velocity: CompiledGraph; evaluation: CompiledGraph; loss: CompiledGraph }) => {
  const policyExecution = { ...execution, ...parts.policyExecution };
  const sessions = new GraphSessions(undefined, !config.compute.shareImportedWeights);
  const velocity = await sessions.open(graphs.velocity, policyExecution);
  const evaluation = await sessions.open(graphs.evaluation, policyExecution);
  const loss = await sessions.open(graphs.loss, policyExecution);
  sessions.sealWeights();
  parts.releaseWeights?.();
  return {
    velocity,
    evaluation,
    loss,
    release: async () => {
      await Promise.all([velocity.release(), loss.release(), evaluation.release()]);
      sessions.release();
    },
  };
};

/** The training sampler's flow (the configured method over the SDE window) and evaluation's (the ODE over evalSteps). */
const samplerFlows = (config: PipelineConfig, latentShape: VelocityNetwork["latentShape"], method: StepMethod, execution: ExecutionConfig) => {
  const s = config.sampler;
  return {
    training: FlowSampler.create({ latentShape, schedule: sigmaSchedule(s.steps, s.shift), window: sdeWindow(s.steps, s.window.size, s.window.start), method, execution }),
    evaluation: FlowSampler.create({ latentShape, schedule: sigmaSchedule(s.evalSteps, s.shift), window: sdeWindow(s.evalSteps, 0, 0), method: odeMethod, execution }),
  };
};

export const buildPolicy = async (config: PipelineConfig, execution: ExecutionConfig): Promise<Policy> => {
  const parts = await generatorParts(config, execution);
  const l = config.learner;
  const learner = learnerGraph(config, parts.net);
  const { lora, policy, clean, objective, lossGraph } = learner;
  const velocityGraph = compileForward("policy-velocity", guidedVelocityModel(policy), { lora });
  const evalBatch = config.eval.seeds.length;
  const evalPolicy = { ...policy, batch: evalBatch };
  const evalGraph = compileForward("policy-velocity-eval", guidedVelocityModel(evalPolicy), { lora });
  const { params, reference, old, optimizer, ema } = trainedWeights(config, parts, velocityGraph, learner);
  const sessions = await openPolicySessions(config, parts, execution, { velocity: velocityGraph, evaluation: evalGraph, loss: lossGraph });
  const flows = samplerFlows(config, parts.net.latentShape, learner.method, execution);
  const { params: graphParams, outputs, trainable } = lossGraph;
  return {
    config: policy,
    text: parts.text,
    params,
    optimizer,
    ema,
    ...(parts.adapters ? { adapters: parts.adapters } : {}),
    ...(lora ? { lora: { rank: lora.rank, alpha: lora.alpha } } : {}),
    // Only GRPO learns from the window's transitions; the other objectives need x0 alone (the image, or a latent generator's final latent).
    sampler: new PolicySampler(policy, sessions.velocity, flows.training, parts.decoder, { recordTrajectories: l.objective === "grpo", recordClean: l.objective !== "grpo" && clean === "latent" }),
    learner: new GeneratorLearner({
      graph: { params: graphParams, outputs, trainable },
      runner: sessions.loss,
      params: [...params, ...reference, ...old],
      optimizer,
      ema,
      plan: objective.plan,
      ...(objective.readsSamplingPolicy ? { samplingPolicy: { live: params, old } } : {}),
      options: { maxGradNorm: l.gradClip, ...(l.microBatch !== undefined ? { microBatch: l.microBatch } : {}) },
    }),
    evaluationSampler: new PolicySampler(evalPolicy, sessions.evaluation, flows.evaluation, parts.decoder),
    evalBatch,
    imageSize: parts.decoder.imageSize,
    learnerMemory: { ...estimateMemory(lossGraph.graph), members: learner.members },
    embed: embedder(parts.text),
    release: async () => {
      await Promise.all([sessions.release(), flows.training.release(), flows.evaluation.release(), parts.release()]);
    },
  };
};
