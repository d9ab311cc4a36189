/** The two small models the engine is proven on: a conv net and a transformer block, each with an MSE loss. */
import type { Tensor } from "../../src/graph/graph.ts";
import { meanAll, reshape, silu, square, sub } from "../../src/graph/ops.ts";
import { conv2d, groupNorm, linear, transformerBlock } from "../../src/nn/layers.ts";
import type { ModelBuilder } from "../../src/train/train-graph.ts";

const mse = (a: Tensor, b: Tensor): Tensor => meanAll(square(sub(a, b)));

export const convNet = (batch: number, size: number): ModelBuilder => (scope, graph) => {
  const x = graph.input("x", "float32", [batch, 3, size, size]);
  const target = graph.input("target", "float32", [batch, 3, size / 2, size / 2]);
  let h = silu(groupNorm(scope.child("norm"), conv2d(scope.child("conv1"), x, 8, { kernel: 3, padding: 1 }), 2));
  h = silu(conv2d(scope.child("down"), h, 8, { kernel: 3, padding: 1, stride: 2 }));
  const y = conv2d(scope.child("out"), h, 3, { kernel: 1 });
  return { loss: mse(y, target), prediction: y };
};

export const transformerNet = (batch: number, tokens: number, width: number, heads: number): ModelBuilder => (scope, graph) => {
  const x = graph.input("x", "float32", [batch, tokens, width]);
  const target = graph.input("target", "float32", [batch, tokens, width]);
  const h = transformerBlock(scope.child("block"), linear(scope.child("embed"), x, width), heads, 2);
  const y = reshape(linear(scope.child("head"), h, width), [batch, tokens, width]);
  return { loss: mse(y, target), prediction: y };
};
