/**
 * The Adv-GRPO discriminator on backbone tokens (docs/algorithm.md §3, §4): one MLP h shared by CLS and
 * patch tokens, Linear(D -> hidden) -> GELU -> Linear(hidden -> 1), trained with the hinge loss
 *   L = wG * 0.5 [mean relu(1 - h(cls_ref)) + mean relu(1 + h(cls_gen))]
 *     + wL * 0.5 [mean relu(1 - h(p_ref))   + mean relu(1 + h(p_gen))]
 * over n patches per image drawn uniformly with replacement, and scoring
 *   R = cG * h(cls) + cL * mean_k h(patch_k)   (raw logits, no sigmoid).
 * Patch choices are graph inputs (flat row indices into [B*N, D]) so a replay feeds the recorded ones.
 * One token transform serves training and scoring alike.
 */
import type { Graph, Tensor } from "../../graph/graph.ts";
import { add, div, gather, gelu, mul, reduceMean, reduceSum, relu, reshape, sqrt, sub } from "../../graph/ops.ts";
import { linear } from "../../nn/layers.ts";
import type { ParamScope } from "../../nn/params.ts";
import type { Rng } from "../../util/prng.ts";

type TokenTransform = "raw" | "l2";

export interface HeadConfig {
  readonly dim: number;
  readonly hidden: number;
  readonly tokenTransform: TokenTransform;
  /** Patches per image, drawn with replacement (n = 64). */
  readonly patchesPerImage: number;
  readonly globalWeight: number;
  readonly localWeight: number;
  readonly rewardClsWeight: number;
  readonly rewardPatchWeight: number;
}

export const DEFAULT_HEAD: Omit<HeadConfig, "dim"> = {
  hidden: 512,
  tokenTransform: "raw",
  patchesPerImage: 64,
  globalWeight: 1.0,
  localWeight: 0.3,
  rewardClsWeight: 0.7,
  rewardPatchWeight: 0.3,
};

const transform = (x: Tensor, kind: TokenTransform): Tensor =>
  kind === "raw" ? x : div(x, sqrt(add(reduceSum(mul(x, x), [-1], true), 1e-12)));

/** h over rows [M, D] -> [M]. */
const head = (scope: ParamScope, tokens: Tensor, c: HeadConfig): Tensor => {
  const hidden = gelu(linear(scope.child("fc1"), transform(tokens, c.tokenTransform), c.hidden));
  return reshape(linear(scope.child("fc2"), hidden, 1), [tokens.shape[0]!]);
};

/** h of the chosen patches: `patches` [B, N, D], `rows` [B*n] flat indices into the B*N patch rows -> [B, n]. */
const patchLogits = (scope: ParamScope, patches: Tensor, rows: Tensor, c: HeadConfig): Tensor => {
  const [b, n, d] = patches.shape as [number, number, number];
  const chosen = gather(reshape(patches, [b * n, d]), rows, 0);
  return reshape(head(scope, chosen, c), [b, rows.shape[0]! / b]);
};

interface TokenInputs {
  readonly cls: Tensor;
  readonly patches: Tensor;
  readonly rows: Tensor;
}

const tokenInputs = (graph: Graph, prefix: string, batch: number, patches: number, c: HeadConfig): TokenInputs => ({
  cls: graph.input(`${prefix}cls`, "float32", [batch, c.dim]),
  patches: graph.input(`${prefix}patches`, "float32", [batch, patches, c.dim]),
  rows: graph.input(`${prefix}patch_rows`, "int64", [batch * c.patchesPerImage]),
});

const hinge = (logits: Tensor, sign: 1 | -1): Tensor => reduceMean(relu(sign === 1 ? sub(1, logits) : add(logits, 1)));

/** Training graph: inputs ref_/gen_ cls, patches, patch_rows; outputs loss, loss_global, loss_local and the logits. */
export const discriminatorTrainBuilder = (c: HeadConfig, refBatch: number, genBatch: number, patches: number) => (scope: ParamScope, graph: Graph) => {
  const ref = tokenInputs(graph, "ref_", refBatch, patches, c);
  const gen = tokenInputs(graph, "gen_", genBatch, patches, c);
  const refCls = head(scope, ref.cls, c);
  const genCls = head(scope, gen.cls, c);
  const refPatch = patchLogits(scope, ref.patches, ref.rows, c);
  const genPatch = patchLogits(scope, gen.patches, gen.rows, c);
  const lossGlobal = mul(add(hinge(refCls, 1), hinge(genCls, -1)), 0.5);
  const lossLocal = mul(add(hinge(refPatch, 1), hinge(genPatch, -1)), 0.5);
  return {
    loss: add(mul(lossGlobal, c.globalWeight), mul(lossLocal, c.localWeight)),
    loss_global: lossGlobal,
    loss_local: lossLocal,
    ref_cls_logits: refCls,
    gen_cls_logits: genCls,
  };
};

/** Scoring graph: inputs cls, patches, patch_rows; outputs reward [B], cls_logits [B], patch_logits [B] (mean over n). */
export const discriminatorScoreBuilder = (c: HeadConfig, batch: number, patches: number) => (scope: ParamScope, graph: Graph) => {
  const x = tokenInputs(graph, "", batch, patches, c);
  const cls = head(scope, x.cls, c);
  const patch = reduceMean(patchLogits(scope, x.patches, x.rows, c), [1], false);
  return { reward: add(mul(cls, c.rewardClsWeight), mul(patch, c.rewardPatchWeight)), cls_logits: cls, patch_logits: patch };
};

/** Logged accuracy: 0.5 * (P[h(cls_ref) > 0] + P[h(cls_gen) < 0]). */
export const discriminatorAccuracy = (refLogits: ArrayLike<number>, genLogits: ArrayLike<number>): number => {
  const share = (xs: ArrayLike<number>, ok: (v: number) => boolean) => Array.from(xs).filter(ok).length / xs.length;
  return 0.5 * (share(refLogits, (v) => v > 0) + share(genLogits, (v) => v < 0));
};

/** n patch indices in [0, N) per image, uniform with replacement: [B, n] row-major. Record these for replay. */
export const samplePatchIndices = (rng: Rng, batch: number, patches: number, perImage: number): Int32Array => {
  const out = new Int32Array(batch * perImage);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(patches);
  return out;
};

/** Per-image indices [B, n] -> flat rows into [B*N] for the graphs' `patch_rows` inputs. */
export const flatPatchRows = (indices: Int32Array, batch: number, patches: number): BigInt64Array => {
  const perImage = indices.length / batch;
  return BigInt64Array.from(indices, (k, i) => BigInt(Math.floor(i / perImage) * patches + k));
};
