/**
 * DINO self-distillation (Caron et al. 2021) for the embedded backbone: a student ViT + projection head
 * learns to match, on every other view of the same image, the sharpened and centred output of a momentum
 * teacher. Teacher forward, centring, sharpening and the momentum update run on the host; the student's
 * step is one compiled graph (forward + backward) fed the teacher's targets.
 */
import type { Graph, Tensor } from "../graph/graph.ts";
import { add, div, exp, gelu, log, matmul, mul, neg, reduceMax, reduceSum, reshape, slice, sqrt, sub } from "../graph/ops.ts";
import { vitTokens, type VitConfig } from "../models/backbone/vit.ts";
import { linear } from "../nn/layers.ts";
import { initParams, type ParamScope } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import { cloneParams } from "../optim/param-set.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import { compileForward, compileTrainStep, paramFeeds, runTrainStep } from "../train/train-graph.ts";
import { type Objective, stripBackbonePrefix } from "./objective.ts";

interface DinoConfig {
  readonly prototypes: number;
  readonly headHidden: number;
  readonly bottleneck: number;
  readonly studentTemp: number;
  readonly teacherTemp: number;
  readonly centerMomentum: number;
  readonly weightDecay: number;
}

export const DEFAULT_DINO: DinoConfig = { prototypes: 256, headHidden: 256, bottleneck: 64, studentTemp: 0.1, teacherTemp: 0.04, centerMomentum: 0.9, weightDecay: 0.04 };

const l2normalise = (x: Tensor, axis: number): Tensor => div(x, sqrt(add(reduceSum(mul(x, x), [axis], true), 1e-12)));

/** Backbone CLS -> MLP -> L2-normalised bottleneck -> prototypes with unit-norm columns (DINO's weight-normed last layer, g = 1). */
const dinoLogits = (scope: ParamScope, pixels: Tensor, vit: VitConfig, c: DinoConfig): Tensor => {
  const tokens = vitTokens(scope.child("backbone"), pixels, vit);
  const b = pixels.shape[0]!;
  const cls = reshape(slice(tokens, [0], [1], [1]), [b, vit.dim]);
  const head = scope.child("head");
  const h = gelu(linear(head.child("fc2"), gelu(linear(head.child("fc1"), cls, c.headHidden)), c.headHidden));
  const z = l2normalise(linear(head.child("fc3"), h, c.bottleneck), 1);
  const prototypes = head.param("prototypes", [c.bottleneck, c.prototypes], { kind: "normal", std: 1 });
  return matmul(z, l2normalise(prototypes, 0));
};

/** Teacher graph: logits [batch, K] for the global views. */
const teacherBuilder = (vit: VitConfig, c: DinoConfig, batch: number) => (scope: ParamScope, graph: Graph) => ({
  logits: dinoLogits(scope, graph.input("pixels", "float32", [batch, 3, vit.imageSize, vit.imageSize]), vit, c),
});

/**
 * Student step: `targets` [batch, K] holds, for each student view, the sum of the teacher distributions of
 * the *other* global views of its image, so one weighted cross-entropy covers every (teacher, student) pair.
 * `pairs` normalises the loss to the mean over pairs and images.
 */
const studentBuilder = (vit: VitConfig, c: DinoConfig, batch: number, pairs: number, images: number) => (scope: ParamScope, graph: Graph) => {
  const pixels = graph.input("pixels", "float32", [batch, 3, vit.imageSize, vit.imageSize]);
  const targets = graph.input("targets", "float32", [batch, c.prototypes]);
  const z = mul(dinoLogits(scope, pixels, vit, c), 1 / c.studentTemp);
  const shifted = sub(z, reduceMax(z, [1], true));
  const logProbs = sub(shifted, log(reduceSum(exp(shifted), [1], true)));
  const loss = mul(neg(reduceSum(mul(targets, logProbs))), 1 / (pairs * images));
  return { loss };
};

/** Sharpened, centred teacher distributions (in place over `logits` [rows, K]) and the batch mean of the raw logits. */
export const teacherTargets = (logits: Float32Array, center: Float32Array, temp: number): { probs: Float32Array; mean: Float32Array } => {
  const k = center.length;
  const rows = logits.length / k;
  const probs = new Float32Array(logits.length);
  const mean = new Float32Array(k);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) {
      mean[j] += logits[r * k + j]! / rows;
      max = Math.max(max, (logits[r * k + j]! - center[j]!) / temp);
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += probs[r * k + j] = Math.exp((logits[r * k + j]! - center[j]!) / temp - max);
    for (let j = 0; j < k; j++) probs[r * k + j]! /= sum;
  }
  return { probs, mean };
};

const entropies = (p: Float32Array, k: number): string => {
  const rows = p.length / k;
  const mean = new Float64Array(k);
  let perSample = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (v > 0) perSample -= (v * Math.log(v)) / rows;
    mean[i % k]! += v / rows;
  }
  let ofMean = 0;
  for (const v of mean) if (v > 0) ofMean -= v * Math.log(v);
  // A collapsing run shows H(mean) falling toward 0 (one prototype wins) or H(sample) rising to log K (uniform).
  return `teacher H(sample) ${perSample.toFixed(3)} H(mean) ${ofMean.toFixed(3)} (max ${Math.log(k).toFixed(3)})`;
};

/** DINO with 2 global views (teacher and student) and `locals` local views (student only). */
export const dinoObjective = async (vit: VitConfig, c: DinoConfig, images: number, locals: number, seed: number): Promise<Objective> => {
  const views = 2 + locals;
  const pairs = 2 * (views - 1);
  const size = vit.imageSize;
  const plane = 3 * size * size;
  const k = c.prototypes;
  const student = compileTrainStep("dino_student", studentBuilder(vit, c, views * images, pairs, images));
  const teacherGraph = compileForward("dino_teacher", teacherBuilder(vit, c, 2 * images));
  const studentSession = await LocalSession.create("dino_student", student.bytes);
  const teacherSession = await LocalSession.create("dino_teacher", teacherGraph.bytes);
  const params = initParams(student.params, seed);
  const teacher = cloneParams(params);
  const optimizer = adamW(params, { lr: 0, weightDecay: c.weightDecay });
  const center = new Float32Array(k);
  // DINO's cosine from the start value to 1; 0.99 suits a run of hundreds of steps.
  const teacherMomentum = (step: number, total: number): number => 1 - 0.01 * 0.5 * (1 + Math.cos((Math.PI * step) / total));
  return {
    views,
    step: async (pixels, learningRate, step, totalSteps) => {
      const teacherOut = await teacherSession.run({ ...paramFeeds(teacher), pixels: f32([2 * images, 3, size, size], pixels.subarray(0, 2 * images * plane)) });
      const { probs, mean } = teacherTargets(teacherOut.logits!.data as Float32Array, center, c.teacherTemp);
      const targets = new Float32Array(views * images * k);
      for (let v = 0; v < views; v++)
        for (let t = 0; t < 2; t++) {
          if (t === v) continue;
          for (let i = 0; i < images * k; i++) targets[v * images * k + i]! += probs[t * images * k + i]!;
        }
      for (let j = 0; j < k; j++) center[j] = c.centerMomentum * center[j]! + (1 - c.centerMomentum) * mean[j]!;
      const result = await runTrainStep(studentSession, student, params, { pixels: f32([views * images, 3, size, size], pixels), targets: f32([views * images, k], targets) });
      const norm = clipGradNorm(result.grads, 3);
      optimizer.learningRate = learningRate;
      optimizer.step(result.grads);
      const m = teacherMomentum(step, totalSteps);
      teacher.forEach((t, p) => {
        const s = params[p]!.data;
        for (let i = 0; i < t.data.length; i++) t.data[i] = m * t.data[i]! + (1 - m) * s[i]!;
      });
      return { loss: result.loss, diagnostics: `grad ${norm.toFixed(3)} ${entropies(probs, k)}` };
    },
    backbone: () => stripBackbonePrefix(teacher),
  };
};
