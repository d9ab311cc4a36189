/**
 * The embedded generator as graphs: the velocity network behind the external-model contract's names, and the
 * flow-matching training graph that also trains the bag-of-words text encoder.
 */
import type { Tensor } from "../../graph/graph.ts";
import { add, meanAll, mul, reshape, square, sub } from "../../graph/ops.ts";
import type { ModelBuilder } from "../../train/train-graph.ts";
import { pooledEmbedding, VOCABULARY } from "../text/bag-of-words.ts";
import { GENERATOR_NAMES } from "./contract.ts";
import { type DiTConfig, ditVelocity } from "./dit.ts";

/** Parameters of the velocity network live under this prefix; the text encoder's table beside it. */
export const NET_SCOPE = "net";

/** Inference graph: latents [B,C,H,W], sigma [B], pooled_embeds [B,D] -> velocity [B,C,H,W]. */
export const velocityModel = (config: DiTConfig, batch: number): ModelBuilder => (scope, graph) => {
  const latents = graph.input(GENERATOR_NAMES.latents, "float32", [batch, config.channels, config.size, config.size]);
  const sigma = graph.input(GENERATOR_NAMES.sigma, "float32", [batch]);
  const pooledText = graph.input(GENERATOR_NAMES.pooled, "float32", [batch, config.textWidth]);
  return { [GENERATOR_NAMES.velocity]: ditVelocity(scope.child(NET_SCOPE), { latents, sigma, pooledText }, config) };
};

/** Data inputs of the training graph. */
export const TRAIN_INPUTS = {
  /** Clean images x0 in [-1, 1], [B,C,H,W]. */
  images: "images",
  /** Gaussian noise x1, [B,C,H,W]. */
  noise: "noise",
  /** Interpolation times t in [0, 1], [B]. */
  t: "t",
  /** Bag-of-words pooling weights [B, vocabulary] (see bagOfWords). */
  words: "prompt_words",
} as const;

const broadcastPerSample = (t: Tensor): Tensor => reshape(t, [t.shape[0]!, 1, 1, 1]);

/**
 * Flow-matching velocity loss: x_t = (1 - t) x0 + t x1, target v = x1 - x0, loss = mean (v_theta - v)^2.
 * x_t is formed inside the graph so one feed of (x0, x1, t) is the whole sample.
 */
export const flowMatchingModel = (config: DiTConfig, batch: number): ModelBuilder => (scope, graph) => {
  const image = [batch, config.channels, config.size, config.size];
  const x0 = graph.input(TRAIN_INPUTS.images, "float32", image);
  const x1 = graph.input(TRAIN_INPUTS.noise, "float32", image);
  const t = graph.input(TRAIN_INPUTS.t, "float32", [batch]);
  const words = graph.input(TRAIN_INPUTS.words, "float32", [batch, VOCABULARY.length]);
  const target = sub(x1, x0);
  const xt = add(x0, mul(broadcastPerSample(t), target));
  const pooledText = pooledEmbedding(scope, words, config.textWidth);
  const velocity = ditVelocity(scope.child(NET_SCOPE), { latents: xt, sigma: t, pooledText }, config);
  return { loss: meanAll(square(sub(velocity, target))) };
};
