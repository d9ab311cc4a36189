/**
 * Contrastive pretraining (SimCLR's NT-Xent): two crops of one image attract, every other image in the
 * batch repels. Batches are built from groups that share a geometry across styles and damage (see
 * world-images.ts), so the hardest negatives of an image are the same shape in another style or degraded:
 * the features must encode outline, shading, palette and crispness to tell them apart.
 * Two heads, one on CLS and one on the mean patch token, so patch tokens are trained directly too.
 */
import { typedArrayFrom } from "../graph/dtype.ts";
import type { Graph, Tensor } from "../graph/graph.ts";
import { add, div, exp, gelu, log, matmul, mul, neg, reduceMax, reduceMean, reduceSum, reshape, slice, sqrt, sub, transpose } from "../graph/ops.ts";
import { linear } from "../nn/layers.ts";
import { initParams, type ParamScope } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import { compileTrainStep, runTrainStep } from "../train/train-graph.ts";
import { patchCount, vitTokens, type VitConfig } from "../models/backbone/vit.ts";
import { type Objective, stripBackbonePrefix } from "./objective.ts";

interface ContrastiveConfig {
  readonly projection: number;
  readonly hidden: number;
  readonly temperature: number;
  readonly weightDecay: number;
}

export const DEFAULT_CONTRASTIVE: ContrastiveConfig = { projection: 128, hidden: 256, temperature: 0.2, weightDecay: 0.05 };

const l2normalise = (x: Tensor): Tensor => div(x, sqrt(add(reduceSum(mul(x, x), [1], true), 1e-12)));

/** NT-Xent over rows [2M, P] where row i and row i+M are the two views of one image. */
export const ntXent = (graph: Graph, z: Tensor, temperature: number): Tensor => {
  const rows = z.shape[0]!;
  const half = rows / 2;
  const unit = l2normalise(z);
  const self = new Array<number>(rows * rows).fill(0);
  const positive = new Array<number>(rows * rows).fill(0);
  for (let i = 0; i < rows; i++) {
    self[i * rows + i] = -1e4;
    positive[i * rows + ((i + half) % rows)] = 1;
  }
  const constant = (values: number[], name: string) => graph.constant(typedArrayFrom(z.dtype, values), z.dtype, [rows, rows], name);
  const logits = add(mul(matmul(unit, transpose(unit, [1, 0])), 1 / temperature), constant(self, "self_mask"));
  const shifted = sub(logits, reduceMax(logits, [1], true));
  const logProbs = sub(shifted, log(reduceSum(exp(shifted), [1], true)));
  return mul(neg(reduceSum(mul(constant(positive, "positives"), logProbs))), 1 / rows);
};

const projectionHead = (scope: ParamScope, x: Tensor, c: ContrastiveConfig): Tensor =>
  linear(scope.child("fc2"), gelu(linear(scope.child("fc1"), x, c.hidden)), c.projection);

const contrastiveBuilder = (vit: VitConfig, c: ContrastiveConfig, rows: number) => (scope: ParamScope, graph: Graph) => {
  const pixels = graph.input("pixels", "float32", [rows, 3, vit.imageSize, vit.imageSize]);
  const tokens = vitTokens(scope.child("backbone"), pixels, vit);
  const n = patchCount(vit);
  const cls = reshape(slice(tokens, [0], [1], [1]), [rows, vit.dim]);
  const meanPatch = reduceMean(slice(tokens, [1 + vit.registers], [1 + vit.registers + n], [1]), [1], false);
  const loss = mul(
    add(ntXent(graph, projectionHead(scope.child("cls_head"), cls, c), c.temperature), ntXent(graph, projectionHead(scope.child("patch_head"), meanPatch, c), c.temperature)),
    0.5,
  );
  return { loss };
};

export const contrastiveObjective = async (vit: VitConfig, c: ContrastiveConfig, images: number, seed: number): Promise<Objective> => {
  const graph = compileTrainStep("contrastive", contrastiveBuilder(vit, c, 2 * images));
  const session = await LocalSession.create("contrastive", graph.bytes);
  const params = initParams(graph.params, seed);
  const optimizer = adamW(params, { lr: 0, weightDecay: c.weightDecay });
  return {
    views: 2,
    step: async (pixels, learningRate) => {
      const result = await runTrainStep(session, graph, params, { pixels: f32([2 * images, 3, vit.imageSize, vit.imageSize], pixels) });
      const norm = clipGradNorm(result.grads, 3);
      optimizer.learningRate = learningRate;
      optimizer.step(result.grads);
      return { loss: result.loss, diagnostics: `grad ${norm.toFixed(3)} (chance loss ${Math.log(2 * images - 1).toFixed(3)})` };
    },
    backbone: () => stripBackbonePrefix(params),
  };
};
