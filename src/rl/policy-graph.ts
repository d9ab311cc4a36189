/**
 * The generator as a policy: the guided velocity the sampler steps with, and the learner's graph that
 * recomputes the log-probability of recorded transitions through the very same ops and differentiates
 * the clipped surrogate. Sharing `guidedVelocity` between both is what makes the first importance ratio
 * of an epoch exactly 1 (docs/algorithm.md §5, the on-policy check).
 */
import type { Tensor } from "../graph/graph.ts";
import { add, concat, reshape, split, sub } from "../graph/ops.ts";
import type { Graph } from "../graph/graph.ts";
import { type DiTConfig, ditVelocity } from "../models/generator/dit.ts";
import { f32, type Feeds, type HostTensor } from "../runtime/tensors.ts";
import { NET_SCOPE } from "../models/generator/network.ts";
import { guide, logProbOf, type StochasticMethod, type Transition, transition } from "../flow/steps.ts";
import type { ParamScope } from "../nn/params.ts";
import type { ModelBuilder } from "../train/train-graph.ts";
import { clippedSurrogate, klPenalty, type RatioNormInputs } from "./policy-loss.ts";

/** Data inputs of the policy graphs, per transition (one trained SDE step of one sample). */
export const POLICY_INPUTS = {
  latents: "latents",
  latentsNext: "latents_next",
  sigma: "sigma",
  sigmaNext: "sigma_next",
  pooled: "pooled_embeds",
  pooledUncond: "pooled_uncond",
  tokens: "text_embeds",
  tokensUncond: "text_uncond",
  logProbOld: "log_prob_old",
  advantages: "advantages",
  /** Forward-process objectives (nft, awm): the clean rollout sample x0 and the training noise eps. */
  clean: "clean_sample",
  noise: "training_noise",
} as const;

/** Parameters of the frozen reference policy for the optional KL term live under this prefix. */
export const REFERENCE_SCOPE = "reference";
/** Parameters of the policy that sampled the rollouts (DiffusionNFT's v_old, GRPO-Guard's mu_old). */
export const OLD_SCOPE = "old";

/** What a velocity network reads besides the latents and sigma. */
export interface NetworkInputs {
  readonly latents: Tensor;
  readonly sigma: Tensor;
  /** [B, pooledWidth] */
  readonly pooled: Tensor;
  /** [B, T, D] per-token embeddings, for networks with a tokenShape. */
  readonly tokens?: Tensor;
}

/**
 * The velocity network inside the policy graphs: the project's DiT, or an imported ONNX transformer. Both the
 * sampler's and the learner's graph call `velocity` to build it, so they run the very same ops.
 */
export interface VelocityNetwork {
  /** [C, H, W] of one latent. */
  readonly latentShape: readonly [number, number, number];
  readonly pooledWidth: number;
  /** [T, D] of the per-token text embeddings the network reads; absent for pooled-only networks. */
  readonly tokenShape?: readonly [number, number];
  /** v = x1 - x0 for a batch (the batch size is the inputs'), parameters declared under `scope`. */
  velocity(scope: ParamScope, inputs: NetworkInputs): Tensor;
}

/** The project's pixel-space DiT as the policy's network. */
export const ditNetwork = (config: DiTConfig): VelocityNetwork => ({
  latentShape: [config.channels, config.size, config.size],
  pooledWidth: config.textWidth,
  velocity: (scope, inputs) => ditVelocity(scope, { latents: inputs.latents, sigma: inputs.sigma, pooledText: inputs.pooled }, config),
});

export interface PolicyConfig {
  readonly net: VelocityNetwork;
  /** Transitions per graph run: must equal the sampler's batch for the on-policy check to hold bit for bit. */
  readonly batch: number;
  /** Classifier-free guidance weight; 1 runs the conditional branch alone. */
  readonly cfgWeight: number;
}

export interface VelocityInputs extends NetworkInputs {
  readonly pooledUncond: Tensor;
  readonly tokensUncond?: Tensor;
}

/** v = v_u + w (v_c - v_u), both branches in one batched network pass. */
export const guidedVelocity = (scope: ParamScope, inputs: VelocityInputs, config: PolicyConfig): Tensor => {
  const net = scope.child(NET_SCOPE);
  if (config.cfgWeight === 1) return config.net.velocity(net, inputs);
  const both = config.net.velocity(net, {
    latents: concat([inputs.latents, inputs.latents], 0),
    sigma: concat([inputs.sigma, inputs.sigma], 0),
    pooled: concat([inputs.pooledUncond, inputs.pooled], 0),
    ...(inputs.tokens && inputs.tokensUncond ? { tokens: concat([inputs.tokensUncond, inputs.tokens], 0) } : {}),
  });
  const [uncond, cond] = split(both, [config.batch, config.batch], 0);
  return guide(uncond!, cond!, config.cfgWeight);
};

/** The text inputs of a policy graph: pooled embeddings and, for networks that read them, per-token ones. */
export const textInputs = (graph: Graph, config: PolicyConfig): Pick<VelocityInputs, "pooled" | "pooledUncond" | "tokens" | "tokensUncond"> => {
  const { pooledWidth, tokenShape } = config.net;
  const b = config.batch;
  return {
    pooled: graph.input(POLICY_INPUTS.pooled, "float32", [b, pooledWidth]),
    pooledUncond: graph.input(POLICY_INPUTS.pooledUncond, "float32", [b, pooledWidth]),
    ...(tokenShape
      ? { tokens: graph.input(POLICY_INPUTS.tokens, "float32", [b, ...tokenShape]), tokensUncond: graph.input(POLICY_INPUTS.tokensUncond, "float32", [b, ...tokenShape]) }
      : {}),
  };
};

const velocityInputs = (graph: Graph, config: PolicyConfig): VelocityInputs => ({
  latents: graph.input(POLICY_INPUTS.latents, "float32", [config.batch, ...config.net.latentShape]),
  sigma: graph.input(POLICY_INPUTS.sigma, "float32", [config.batch]),
  ...textInputs(graph, config),
});

/** The text feeds of a policy graph for a batch of prompts' embeddings (sampler and learner alike). */
export const textFeeds = (config: PolicyConfig, text: TextEmbeddings): Feeds => {
  const b = config.batch;
  const { pooledWidth, tokenShape } = config.net;
  if (text.pooled.length !== b * pooledWidth) throw new Error(`policy graph: pooled text embeddings hold ${text.pooled.length} values, expected batch ${b} x width ${pooledWidth}`);
  const feeds: Record<string, HostTensor> = {
    [POLICY_INPUTS.pooled]: f32([b, pooledWidth], text.pooled),
    [POLICY_INPUTS.pooledUncond]: f32([b, pooledWidth], text.pooledUncond),
  };
  if (tokenShape) {
    if (!text.tokens || !text.tokensUncond) throw new Error("policy graph: the network reads per-token text embeddings, but the text encoder gave none");
    feeds[POLICY_INPUTS.tokens] = f32([b, ...tokenShape], text.tokens);
    feeds[POLICY_INPUTS.tokensUncond] = f32([b, ...tokenShape], text.tokensUncond);
  }
  return feeds;
};

/** Text embeddings of a batch of prompts, as the policy graphs take them (row-major, batch first). */
export interface TextEmbeddings {
  /** Pooled embeddings of the batch's prompts [B*D] and of the empty prompt repeated [B*D]. */
  readonly pooled: Float32Array;
  readonly pooledUncond: Float32Array;
  /** Per-token embeddings [B*T*D] and the empty prompt's repeated, for networks that read them. */
  readonly tokens?: Float32Array;
  readonly tokensUncond?: Float32Array;
}

/** Inference: the guided velocity the sampler integrates. */
export const guidedVelocityModel = (config: PolicyConfig): ModelBuilder => (scope, graph) => ({
  velocity: guidedVelocity(scope, velocityInputs(graph, config), config),
});

interface LearnerGraphConfig extends PolicyConfig {
  readonly method: StochasticMethod;
  /** PPO clip range eps. */
  readonly clipRange: number;
  /** KL weight beta to the reference policy (0 in Adv-GRPO: no reference weights are fed then). */
  readonly klBeta: number;
  /** GRPO-Guard's RatioNorm (needs Gaussian log-densities and the sampling policy's weights under `old`). */
  readonly ratioNormalisation: "none" | "grpo-guard";
}

/** The learner's loss over one batch of recorded transitions, with every diagnostic as an output. */
export const policyLossModel = (config: LearnerGraphConfig): ModelBuilder => (scope, graph) => {
  const inputs = velocityInputs(graph, config);
  const latentsNext = graph.input(POLICY_INPUTS.latentsNext, "float32", [config.batch, ...config.net.latentShape]);
  const sigmaNext = graph.input(POLICY_INPUTS.sigmaNext, "float32", [config.batch]);
  const logProbOld = graph.input(POLICY_INPUTS.logProbOld, "float32", [config.batch]);
  const advantages = graph.input(POLICY_INPUTS.advantages, "float32", [config.batch]);
  const velocity = guidedVelocity(scope, inputs, config);
  const logProb = logProbOf(latentsNext, inputs.latents, velocity, inputs.sigma, sigmaNext, config.method);
  const trained = transition(inputs.latents, velocity, inputs.sigma, sigmaNext, config.method);
  const guard = config.ratioNormalisation === "grpo-guard" ? ratioNormInputs(scope, inputs, trained, sigmaNext, config) : undefined;
  const terms = clippedSurrogate(logProb, logProbOld, advantages, config.clipRange, guard);
  if (config.klBeta === 0) return { ...terms, logProb };
  const referenceVelocity = guidedVelocity(scope.child(REFERENCE_SCOPE), inputs, config);
  const reference = transition(inputs.latents, referenceVelocity, inputs.sigma, sigmaNext, config.method);
  const kl = klPenalty(trained.mean, reference.mean, reshape(trained.variance, [config.batch]), config.klBeta);
  return { ...terms, policyLoss: terms.loss, kl, loss: add(terms.loss, kl), logProb };
};

const ratioNormInputs = (scope: ParamScope, inputs: VelocityInputs, trained: Transition, sigmaNext: Tensor, config: LearnerGraphConfig): RatioNormInputs => {
  const old = transition(inputs.latents, guidedVelocity(scope.child(OLD_SCOPE), inputs, config), inputs.sigma, sigmaNext, config.method);
  return { mean: trained.mean, oldMean: old.mean, variance: reshape(trained.variance, [config.batch]), stepSize: sub(inputs.sigma, sigmaNext) };
};
