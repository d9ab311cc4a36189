/**
 * Engine throughput at the default generator's sizes: forward and full train step (forward + backward +
 * in-place AdamW) of a conv UNet-style block and a transformer block, against a plain ORT MatMul timed in
 * the same rounds (MatMul, forward, train step, repeated), so a change of load moves both sides alike.
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
import { gflops, type OneRun, timeOnce } from "../util/measure.ts";
import type { openMatMul } from "./matmul.ts";

interface BlockSizes {
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

interface BlockResult {
  readonly name: string;
  readonly forwardMs: number;
  readonly trainStepMs: number;
  readonly forwardGflops: number;
  readonly trainGflops: number;
  /** Median over rounds of the block's GFLOP/s divided by the MatMul's in the same round. */
  readonly forwardVsMatMul: number;
  readonly trainVsMatMul: number;
  /** The same with FLOPs per CPU second (all threads), steadier when the machine is shared. */
  readonly forwardVsMatMulCpu: number;
  readonly trainVsMatMulCpu: number;
}

type Baseline = Awaited<ReturnType<typeof openMatMul>>;

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


/**
 * `trainFlops` turns the forward's matrix FLOPs into the train step's where the training graph's own count would
 * include helper work of its backward (the conv weight gradient's tap-picking Convs and padded columns).
 */
const benchBlock = async (name: string, build: ModelBuilder, shape: readonly number[], baseline: Baseline, rounds: number, trainFlops?: (forwardFlops: number) => number): Promise<BlockResult> => {
  const forwardGraph = compileForward(`${name}-forward`, build);
  const trainGraph = compileTrainStep(`${name}-train`, build);
  const stepFlops = trainFlops?.(forwardGraph.flops) ?? trainGraph.flops;
  const params = initParams(trainGraph.params, 1);
  const rng = makeRng(2);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = { x: f32(shape, rng.fillNormal(new Float32Array(count))), target: f32(shape, rng.fillNormal(new Float32Array(count))) };
  const forward = await LocalSession.create(forwardGraph.name, forwardGraph.bytes);
  const train = await LocalSession.create(trainGraph.name, trainGraph.bytes);
  const optimizer = adamW(params, { lr: 1e-5 });
  const times: { matmul: OneRun; forward: OneRun; step: OneRun }[] = [];
  for (let r = 0; r < rounds + 2; r++) {
    const round = {
      matmul: await timeOnce(baseline.run),
      forward: await timeOnce(() => forward.run({ ...paramFeeds(params), ...data }, ["loss"])),
      step: await timeOnce(async () => optimizer.step((await runTrainStep(train, trainGraph, params, data)).grads)),
    };
    if (r >= 2) times.push(round);
  }
  await Promise.all([forward.release(), train.release()]);
  const vsMatMul = (flops: number, key: "forward" | "step", clock: keyof OneRun) =>
    median(times.map((t) => gflops(flops, t[key][clock]) / gflops(baseline.flops, t.matmul[clock])));
  const forwardMs = median(times.map((t) => t.forward.ms));
  const trainStepMs = median(times.map((t) => t.step.ms));
  return {
    name,
    forwardMs,
    trainStepMs,
    forwardGflops: gflops(forwardGraph.flops, forwardMs),
    trainGflops: gflops(stepFlops, trainStepMs),
    forwardVsMatMul: vsMatMul(forwardGraph.flops, "forward", "ms"),
    trainVsMatMul: vsMatMul(stepFlops, "step", "ms"),
    forwardVsMatMulCpu: vsMatMul(forwardGraph.flops, "forward", "cpuMs"),
    trainVsMatMulCpu: vsMatMul(stepFlops, "step", "cpuMs"),
  };
};

export const benchEngineBlocks = async (s: BlockSizes, baseline: Baseline, rounds = 10): Promise<BlockResult[]> => [
  // Each conv needs its input and weight gradients, each a product as large as the conv itself: 3x the forward.
  await benchBlock(`conv block B${s.batch} C${s.channels} ${s.resolution}x${s.resolution}`, convBlock(s), [s.batch, s.channels, s.resolution, s.resolution], baseline, rounds, (forward) => 3 * forward),
  await benchBlock(`transformer block B${s.batch} T${s.tokens} D${s.width}`, attentionBlock(s), [s.batch, s.tokens, s.width], baseline, rounds),
];
