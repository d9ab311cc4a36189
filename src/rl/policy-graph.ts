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

export interface PolicyConfig {
  readonly net: DiTConfig;
  /** Transitions per graph run: must equal the sampler's batch for the on-policy check to hold bit for bit. */
  readonly batch: number;
  /** Classifier-free guidance weight; 1 runs the conditional branch alone. */
  readonly cfgWeight: number;
}

interface VelocityInputs {
  readonly latents: Tensor;
  readonly sigma: Tensor;
  readonly pooled: Tensor;
  readonly pooledUncond: Tensor;
}

/** v = v_u + w (v_c - v_u), both branches in one batched network pass. */
export const guidedVelocity = (scope: ParamScope, inputs: VelocityInputs, config: PolicyConfig): Tensor => {
  const net = scope.child(NET_SCOPE);
  if (config.cfgWeight === 1) return ditVelocity(net, { latents: inputs.latents, sigma: inputs.sigma, pooledText: inputs.pooled }, config.net);
  const both = ditVelocity(
    net,
    {
      latents: concat([inputs.latents, inputs.latents], 0),
      sigma: concat([inputs.sigma, inputs.sigma], 0),
      pooledText: concat([inputs.pooledUncond, inputs.pooled], 0),
    },
    config.net,
  );
  const [uncond, cond] = split(both, [config.batch, config.batch], 0);
  return guide(uncond!, cond!, config.cfgWeight);
};

const velocityInputs = (graph: Graph, config: PolicyConfig): VelocityInputs => {
  const { channels, size, textWidth } = config.net;
  return {
    latents: graph.input(POLICY_INPUTS.latents, "float32", [config.batch, channels, size, size]),
    sigma: graph.input(POLICY_INPUTS.sigma, "float32", [config.batch]),
    pooled: graph.input(POLICY_INPUTS.pooled, "float32", [config.batch, textWidth]),
    pooledUncond: graph.input(POLICY_INPUTS.pooledUncond, "float32", [config.batch, textWidth]),
  };
};

/** Inference: the guided velocity the sampler integrates. */
export const guidedVelocityModel = (config: PolicyConfig): ModelBuilder => (scope, graph) => ({
  velocity: guidedVelocity(scope, velocityInputs(graph, config), config),
});

export interface LearnerGraphConfig extends PolicyConfig {
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
  const { channels, size } = config.net;
  const latentsNext = graph.input(POLICY_INPUTS.latentsNext, "float32", [config.batch, channels, size, size]);
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
