/**
 * The forward (noising) process the likelihood-free objectives train on: a clean rollout sample x0 is
 * noised to x_t = (1 - t) x0 + t eps at schedule times t the learner draws, and the velocity network is
 * scored against the flow-matching target eps - x0 there. Shared by the DiffusionNFT and AWM graphs.
 */
import type { Graph, Tensor } from "../graph/graph.ts";
import { add, meanAll, mul, reduceMean, reshape, square, sub } from "../graph/ops.ts";
import { guidedVelocity, type PolicyConfig, POLICY_INPUTS, REFERENCE_SCOPE, textInputs, type VelocityInputs } from "./policy-graph.ts";
import type { ParamScope } from "../nn/params.ts";
import type { ModelOutputs } from "../train/train-graph.ts";

/** Per-sample mean over every axis but the first: [B, ...] -> [B]. */
export const perSampleMean = (x: Tensor): Tensor => reduceMean(x, x.shape.slice(1).map((_, i) => i + 1), false);

/** t [B] broadcast over x [B, ...]. */
export const broadcastTime = (t: Tensor, like: Tensor): Tensor => reshape(t, [like.shape[0]!, ...like.shape.slice(1).map(() => 1)]);

/** x_t = (1 - t) x0 + t eps. */
export const forwardNoised = (clean: Tensor, noise: Tensor, t: Tensor): Tensor => {
  const tb = broadcastTime(t, clean);
  return add(mul(clean, sub(1, tb)), mul(noise, tb));
};

/** beta * mean over samples of mean((v - v_ref)^2): the velocity-space KL both papers regularise with. */
export const velocityKl = (velocity: Tensor, referenceVelocity: Tensor, beta: number): Tensor => mul(meanAll(perSampleMean(square(sub(velocity, referenceVelocity)))), beta);

interface ForwardInputs extends Pick<VelocityInputs, "pooled" | "pooledUncond" | "tokens" | "tokensUncond"> {
  readonly clean: Tensor;
  readonly noise: Tensor;
  readonly t: Tensor;
  readonly noised: Tensor;
  readonly advantages: Tensor;
}

/** The data inputs of a forward-process learner graph, one training time per sample. */
export const forwardInputs = (graph: Graph, config: PolicyConfig): ForwardInputs => {
  const latent = [config.batch, ...config.net.latentShape];
  const clean = graph.input(POLICY_INPUTS.clean, "float32", latent);
  const noise = graph.input(POLICY_INPUTS.noise, "float32", latent);
  const t = graph.input(POLICY_INPUTS.sigma, "float32", [config.batch]);
  return {
    clean,
    noise,
    t,
    noised: forwardNoised(clean, noise, t),
    advantages: graph.input(POLICY_INPUTS.advantages, "float32", [config.batch]),
    ...textInputs(graph, config),
  };
};

/** The velocity of the weights under `scope` at x_t. */
export const velocityAt = (scope: ParamScope, inputs: ForwardInputs, config: PolicyConfig): Tensor =>
  guidedVelocity(scope, { ...inputs, latents: inputs.noised, sigma: inputs.t }, config);

/** Adds the KL to the initial policy (klBeta > 0) to an objective's terms. */
export const withReferenceKl = (terms: ModelOutputs & { loss: Tensor }, scope: ParamScope, inputs: ForwardInputs, velocity: Tensor, config: PolicyConfig, klBeta: number): ModelOutputs => {
  if (klBeta === 0) return terms;
  const kl = velocityKl(velocity, velocityAt(scope.child(REFERENCE_SCOPE), inputs, config), klBeta);
  return { ...terms, policyLoss: terms.loss, kl, loss: add(terms.loss, kl) };
};
