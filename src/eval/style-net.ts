/**
 * The style classifier's network: a small conv net on 32x32 RGB pixels that says whether an image is drawn in
 * one of the world's reference styles ("shaded", "striped") or is anything else ("other": base renders,
 * damaged renders of any style, noise, blanks).
 *
 * Strided 3x3 convs halve the resolution per stage; the head sees both the mean and the max of the last
 * feature map, because damage is often local (one cut through the shape, a few speckles) and a mean alone
 * would dilute it.
 */
import type { Graph, Tensor } from "../graph/graph.ts";
import { concat, exp, log, meanAll, mul, reduceMax, reduceMean, reduceSum, relu, softmax, sub } from "../graph/ops.ts";
import { conv2d, linear } from "../nn/layers.ts";
import type { ParamScope } from "../nn/params.ts";
import type { ModelBuilder } from "../train/train-graph.ts";

/** Class order of the classifier's outputs. */
export const STYLE_CLASSES = ["shaded", "striped", "other"] as const;
export type StyleClass = (typeof STYLE_CLASSES)[number];

export interface StyleNetConfig {
  /** Side of the square input image in pixels. */
  readonly size: number;
  /** Output channels of each conv stage; every stage after the first halves the resolution. */
  readonly channels: readonly number[];
}

export const defaultStyleNetConfig: StyleNetConfig = { size: 32, channels: [16, 32, 48, 64] };

/** Logits [B, classes] of a batch of images [B, 3, size, size] with values in [0, 1]. */
const logitsOf = (scope: ParamScope, images: Tensor, config: StyleNetConfig): Tensor => {
  let h = sub(mul(images, 2), 1);
  config.channels.forEach((width, stage) => {
    h = relu(conv2d(scope.child(`conv${stage}`), h, width, { kernel: 3, padding: 1, stride: stage === 0 ? 1 : 2 }));
  });
  const pooled = concat([reduceMean(h, [2, 3]), reduceMax(h, [2, 3])], 1);
  return linear(scope.child("head"), pooled, STYLE_CLASSES.length);
};

const declareImages = (graph: Graph, config: StyleNetConfig, batch: number): Tensor =>
  graph.input("images", "float32", [batch, 3, config.size, config.size]);

/** Inference: `probabilities` [B, classes]. */
export const styleNetForward = (config: StyleNetConfig, batch: number): ModelBuilder => (scope, graph) => ({
  probabilities: softmax(logitsOf(scope, declareImages(graph, config, batch), config), -1),
});

/**
 * Training: mean cross-entropy against one-hot `labels` [B, classes], written as log-sum-exp minus the target
 * logit (shifted by the row max) so a confident net never takes the log of an underflowed zero.
 */
export const styleNetTraining = (config: StyleNetConfig, batch: number): ModelBuilder => (scope, graph) => {
  const images = declareImages(graph, config, batch);
  const labels = graph.input("labels", "float32", [batch, STYLE_CLASSES.length]);
  const logits = logitsOf(scope, images, config);
  const shifted = sub(logits, reduceMax(logits, [1], true));
  const logSumExp = log(reduceSum(exp(shifted), [1], false));
  const targetLogit = reduceSum(mul(shifted, labels), [1], false);
  return { loss: meanAll(sub(logSumExp, targetLogit)), probabilities: softmax(logits, -1) };
};
