/**
 * Engine throughput at the default generator's sizes: forward and full train step (forward + backward +
 * in-place AdamW) of a conv UNet-style block and a transformer block, against a plain ORT MatMul measured
 * in the same run.
 */
import type { Tensor } from "../graph/graph.ts";
import { add, meanAll, silu, square, sub } from "../graph/ops.ts";
import { conv2d, groupNorm, transformerBlock } from "../nn/layers.ts";
import { initParams } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import { compileForward, compileTrainStep, type ModelBuilder, paramFeeds, runTrainStep } from "../train/train-graph.ts";
import { makeRng } from "../util/prng.ts";
import { gflops, measure } from "../util/measure.ts";

export interface BlockSizes {
  readonly batch: number;
  readonly channels: number;
  readonly resolution: number;
  readonly tokens: number;
  readonly width: number;
  readonly heads: number;
}

const mse = (a: Tensor, b: Tensor) => meanAll(square(sub(a, b)));

/** GroupNorm -> SiLU -> Conv3x3, twice, plus the skip connection: the unit a small UNet repeats. */
const convBlock = (s: BlockSizes): ModelBuilder => (scope, graph) => {
  const shape = [s.batch, s.channels, s.resolution, s.resolution];
  const x = graph.input("x", "float32", shape);
  const target = graph.input("target", "float32", shape);
  const h1 = conv2d(scope.child("conv1"), silu(groupNorm(scope.child("norm1"), x, 8)), s.channels, { kernel: 3, padding: 1 });
  const h2 = conv2d(scope.child("conv2"), silu(groupNorm(scope.child("norm2"), h1, 8)), s.channels, { kernel: 3, padding: 1 });
  return { loss: mse(add(x, h2), target) };
};

const attentionBlock = (s: BlockSizes): ModelBuilder => (scope, graph) => {
  const shape = [s.batch, s.tokens, s.width];
  const x = graph.input("x", "float32", shape);
  const target = graph.input("target", "float32", shape);
  return { loss: mse(transformerBlock(scope.child("block"), x, s.heads, 4), target) };
};

export interface BlockResult {
  readonly name: string;
  readonly forwardMs: number;
  readonly trainStepMs: number;
  readonly forwardGflops: number;
  readonly trainGflops: number;
}

const benchBlock = async (name: string, build: ModelBuilder, shape: readonly number[]): Promise<BlockResult> => {
  const forwardGraph = compileForward(`${name}-forward`, build);
  const trainGraph = compileTrainStep(`${name}-train`, build);
  const params = initParams(trainGraph.params, 1);
  const rng = makeRng(2);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = { x: f32(shape, rng.fillNormal(new Float32Array(count))), target: f32(shape, rng.fillNormal(new Float32Array(count))) };
  const forward = await LocalSession.create(forwardGraph.name, forwardGraph.bytes);
  const train = await LocalSession.create(trainGraph.name, trainGraph.bytes);
  const optimizer = adamW(params, { lr: 1e-5 });
  const fwd = await measure(() => forward.run({ ...paramFeeds(params), ...data }, ["loss"]));
  const step = await measure(async () => optimizer.step((await runTrainStep(train, trainGraph, params, data)).grads));
  await Promise.all([forward.release(), train.release()]);
  return {
    name,
    forwardMs: fwd.medianMs,
    trainStepMs: step.medianMs,
    forwardGflops: gflops(forwardGraph.flops, fwd.medianMs),
    trainGflops: gflops(trainGraph.flops, step.medianMs),
  };
};

export const benchEngineBlocks = (s: BlockSizes): Promise<BlockResult[]> =>
  (async () => [
    await benchBlock(`conv block B${s.batch} C${s.channels} ${s.resolution}x${s.resolution}`, convBlock(s), [s.batch, s.channels, s.resolution, s.resolution]),
    await benchBlock(`transformer block B${s.batch} T${s.tokens} D${s.width}`, attentionBlock(s), [s.batch, s.tokens, s.width]),
  ])();
