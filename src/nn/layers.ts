/** Standard layers over ParamScope, with torch-compatible parameter layouts and default inits. */
import { typedArrayFrom } from "../graph/dtype.ts";
import type { Tensor } from "../graph/graph.ts";
import { add, attention, conv, gelu, gemm, layerNorm as layerNormOp, matmul, mul, reshape, split, transpose } from "../graph/ops.ts";
import { LORA_MARKER, type ParamScope } from "./params.ts";

const kaimingUniform = (fanIn: number) => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn) }) as const;

/**
 * y = x W + b over the last axis; W is stored [in, out] so the forward is one MatMul without a transpose.
 * When the scope is a LoRA target, y += (alpha / rank) * (x A) B with B starting at zero, so the adapted
 * model starts exactly at the base model.
 */
export const linear = (scope: ParamScope, x: Tensor, outFeatures: number, options: LinearOptions = {}): Tensor =>
  linearParts(scope, x, [outFeatures], options)[0]!;

interface LinearOptions {
  readonly bias?: boolean;
  readonly init?: "default" | "zeros";
}

/**
 * One linear layer of sum(sizes) outputs (the same parameters as `linear`), computed as separate products of x with
 * column blocks of W (and of b and LoRA's B): each part comes out contiguous, where splitting the layer's output
 * would copy it strided.
 */
const linearParts = (scope: ParamScope, x: Tensor, sizes: readonly number[], options: LinearOptions = {}): Tensor[] => {
  const inFeatures = x.shape[x.shape.length - 1]!;
  const outFeatures = sizes.reduce((a, b) => a + b, 0);
  const parts = (t: Tensor, axis: number): Tensor[] => (sizes.length === 1 ? [t] : split(t, sizes, axis));
  const weights = parts(scope.param("weight", [inFeatures, outFeatures], options.init === "zeros" ? { kind: "zeros" } : kaimingUniform(inFeatures)), 1);
  let ys = weights.map((w) => matmul(x, w));
  const lora = scope.adapterHere();
  if (lora) {
    const down = matmul(x, scope.param(`${LORA_MARKER.slice(1)}A`, [inFeatures, lora.rank], kaimingUniform(inFeatures)));
    const ups = parts(scope.param(`${LORA_MARKER.slice(1)}B`, [lora.rank, outFeatures], { kind: "zeros" }), 1);
    ys = ys.map((y, i) => add(y, mul(matmul(down, ups[i]!), lora.alpha / lora.rank)));
  }
  if (options.bias === false) return ys;
  const biases = parts(scope.param("bias", [outFeatures], options.init === "zeros" ? { kind: "zeros" } : kaimingUniform(inFeatures)), 0);
  return ys.map((y, i) => add(y, biases[i]!));
};

export interface Conv2dOptions {
  readonly kernel: number;
  readonly stride?: number;
  readonly padding?: number;
  readonly groups?: number;
  readonly bias?: boolean;
}

export const conv2d = (scope: ParamScope, x: Tensor, outChannels: number, o: Conv2dOptions): Tensor => {
  const inChannels = x.shape[1]!;
  const groups = o.groups ?? 1;
  const fanIn = (inChannels / groups) * o.kernel * o.kernel;
  const weight = scope.param("weight", [outChannels, inChannels / groups, o.kernel, o.kernel], kaimingUniform(fanIn));
  const bias = o.bias === false ? undefined : scope.param("bias", [outChannels], kaimingUniform(fanIn));
  const p = o.padding ?? 0;
  const s = o.stride ?? 1;
  return conv(x, weight, bias, { strides: [s, s], pads: [p, p, p, p], group: groups });
};

/**
 * A conv with kernel = stride = patch (ViT and DiT patchify) as one Gemm over the flattened patches, giving the
 * tokens [B, T, D] directly, with conv2d's parameters (weight [D, C, p, p], bias [D]): a Conv needs a Transpose
 * of its [B, D, T] output (a larger tensor than the pixels transposed here) and its weight gradient one Gemm
 * per kernel offset.
 */
export const patchEmbed = (scope: ParamScope, x: Tensor, outChannels: number, patch: number): Tensor => {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const [gh, gw] = [h / patch, w / patch];
  if (!Number.isInteger(gh) || !Number.isInteger(gw)) throw new Error(`a ${h}x${w} image is not a whole number of ${patch}x${patch} patches (${scope.prefix})`);
  const fanIn = c * patch * patch;
  const weight = scope.param("weight", [outChannels, c, patch, patch], kaimingUniform(fanIn));
  const bias = scope.param("bias", [outChannels], kaimingUniform(fanIn));
  const rows = reshape(transpose(reshape(x, [b, c, gh, patch, gw, patch]), [0, 2, 4, 1, 3, 5]), [b * gh * gw, fanIn]);
  return reshape(gemm(rows, reshape(weight, [outChannels, fanIn]), bias, { transB: true }), [b, gh * gw, outChannels]);
};

export const layerNorm = (scope: ParamScope, x: Tensor, epsilon = 1e-6): Tensor => {
  const d = x.shape[x.shape.length - 1]!;
  return layerNormOp(x, scope.param("weight", [d], { kind: "ones" }), scope.param("bias", [d], { kind: "zeros" }), -1, epsilon);
};

/**
 * GroupNorm with torch's per-channel affine, built as LayerNormalization over [N, groups, rest] with a unit scale
 * and no bias: ORT runs that as one kernel (GroupNormalization-21 runs as its function body of a dozen ops
 * including copies), and the mean and 1/std it returns spare the backward their recomputation, which
 * InstanceNormalization over the same view (how torch.onnx.export writes GroupNorm) has no outputs for. On the
 * conv block the normalisations' forward and backward took ~0.8x the kernel time of the InstanceNormalization form.
 */
export const groupNorm = (scope: ParamScope, x: Tensor, groups: number, epsilon = 1e-5): Tensor => {
  const c = x.shape[1]!;
  const perChannel = [c, ...x.shape.slice(2).map(() => 1)];
  const rest = x.shape.slice(1).reduce((a, b) => a * b, 1) / groups;
  const unit = x.graph.constant(typedArrayFrom(x.dtype, new Array<number>(rest).fill(1)), x.dtype, [rest], "gn_ones");
  const normalised = reshape(layerNormOp(reshape(x, [x.shape[0]!, groups, rest]), unit, undefined, -1, epsilon), x.shape);
  const weight = scope.param("weight", [c], { kind: "ones" });
  const bias = scope.param("bias", [c], { kind: "zeros" });
  return add(mul(normalised, reshape(weight, perChannel)), reshape(bias, perChannel));
};

/**
 * [..., D] as the rows [N, D] of one matrix. Layers run their products on rows: ORT turns a MatMul + Add on a
 * [B, T, D] input into a Gemm wrapped in its own pair of Reshapes (two nodes per product, each with its per-node
 * cost), where rows taken once serve every product of the layer.
 */
const rows = (x: Tensor): Tensor => reshape(x, [x.shape.slice(0, -1).reduce((a, b) => a * b, 1), x.shape[x.shape.length - 1]!]);

/** Linear -> GELU -> Linear. */
export const mlp = (scope: ParamScope, x: Tensor, hidden: number, outFeatures = x.shape[x.shape.length - 1]!): Tensor =>
  reshape(linear(scope.child("fc2"), gelu(linear(scope.child("fc1"), rows(x), hidden)), outFeatures), [...x.shape.slice(0, -1), outFeatures]);

/**
 * Multi-head self-attention over [B,T,D] with a fused qkv projection (one [D, 3D] weight, as torch stores it). The
 * projection is computed per part (linearParts) and each part transposed once to [B,H,T,Dh]: splitting the
 * [B,T,3D] output and transposing it moved every activation twice.
 */
export const selfAttention = (scope: ParamScope, x: Tensor, heads: number): Tensor => {
  const [b, t, d] = x.shape as [number, number, number];
  if (d % heads !== 0) throw new Error(`attention width ${d} is not divisible by ${heads} heads (${scope.prefix})`);
  const [q, k, v] = linearParts(scope.child("qkv"), rows(x), [d, d, d]).map((p) => transpose(reshape(p, [b, t, heads, d / heads]), [0, 2, 1, 3]));
  const merged = reshape(transpose(attention(q!, k!, v!), [0, 2, 1, 3]), [b * t, d]);
  return reshape(linear(scope.child("proj"), merged, d), [b, t, d]);
};

/** Pre-norm transformer block: x + attn(ln(x)), then + mlp(ln(x)). */
export const transformerBlock = (scope: ParamScope, x: Tensor, heads: number, mlpRatio = 4): Tensor => {
  const d = x.shape[x.shape.length - 1]!;
  const h = add(x, selfAttention(scope.child("attn"), layerNorm(scope.child("norm1"), x), heads));
  return add(h, mlp(scope.child("mlp"), layerNorm(scope.child("norm2"), h), mlpRatio * d));
};
