/** Standard layers over ParamScope, with torch-compatible parameter layouts and default inits. */
import { typedArrayFrom } from "../graph/dtype.ts";
import type { Tensor } from "../graph/graph.ts";
import { add, attention, conv, gelu, instanceNorm, layerNorm as layerNormOp, matmul, mul, reshape, split, transpose } from "../graph/ops.ts";
import { LORA_MARKER, type ParamScope } from "./params.ts";

const kaimingUniform = (fanIn: number) => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn) }) as const;

/**
 * y = x W + b over the last axis; W is stored [in, out] so the forward is one MatMul without a transpose.
 * When the scope is a LoRA target, y += (alpha / rank) * (x A) B with B starting at zero, so the adapted
 * model starts exactly at the base model.
 */
export const linear = (scope: ParamScope, x: Tensor, outFeatures: number, options: { bias?: boolean; init?: "default" | "zeros" } = {}): Tensor => {
  const inFeatures = x.shape[x.shape.length - 1]!;
  const weight = scope.param("weight", [inFeatures, outFeatures], options.init === "zeros" ? { kind: "zeros" } : kaimingUniform(inFeatures));
  let y = matmul(x, weight);
  const lora = scope.adapterHere();
  if (lora) {
    const down = scope.param(`${LORA_MARKER.slice(1)}A`, [inFeatures, lora.rank], kaimingUniform(inFeatures));
    const up = scope.param(`${LORA_MARKER.slice(1)}B`, [lora.rank, outFeatures], { kind: "zeros" });
    y = add(y, mul(matmul(matmul(x, down), up), lora.alpha / lora.rank));
  }
  return options.bias === false ? y : add(y, scope.param("bias", [outFeatures], options.init === "zeros" ? { kind: "zeros" } : kaimingUniform(inFeatures)));
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

export const layerNorm = (scope: ParamScope, x: Tensor, epsilon = 1e-6): Tensor => {
  const d = x.shape[x.shape.length - 1]!;
  return layerNormOp(x, scope.param("weight", [d], { kind: "ones" }), scope.param("bias", [d], { kind: "zeros" }), -1, epsilon);
};

/**
 * GroupNorm with torch's per-channel affine, built as InstanceNormalization over [N, groups, rest] (how
 * torch.onnx.export writes it): ORT runs that as one kernel, where GroupNormalization-21 runs as its
 * function body of a dozen ops including copies (Casts).
 */
export const groupNorm = (scope: ParamScope, x: Tensor, groups: number, epsilon = 1e-5): Tensor => {
  const c = x.shape[1]!;
  const perChannel = [c, ...x.shape.slice(2).map(() => 1)];
  const g = x.graph;
  const unit = (value: number, name: string) => g.constant(typedArrayFrom(x.dtype, new Array<number>(groups).fill(value)), x.dtype, [groups], name);
  const normalised = reshape(instanceNorm(reshape(x, [x.shape[0]!, groups, -1]), unit(1, "gn_ones"), unit(0, "gn_zeros"), epsilon), x.shape);
  const weight = scope.param("weight", [c], { kind: "ones" });
  const bias = scope.param("bias", [c], { kind: "zeros" });
  return add(mul(normalised, reshape(weight, perChannel)), reshape(bias, perChannel));
};

/** Linear -> GELU -> Linear. */
export const mlp = (scope: ParamScope, x: Tensor, hidden: number, outFeatures = x.shape[x.shape.length - 1]!): Tensor =>
  linear(scope.child("fc2"), gelu(linear(scope.child("fc1"), x, hidden)), outFeatures);

/** Multi-head self-attention over [B,T,D] with a fused qkv projection. */
export const selfAttention = (scope: ParamScope, x: Tensor, heads: number): Tensor => {
  const [b, t, d] = x.shape as [number, number, number];
  if (d % heads !== 0) throw new Error(`attention width ${d} is not divisible by ${heads} heads (${scope.prefix})`);
  const qkv = reshape(linear(scope.child("qkv"), x, 3 * d), [b, t, 3, heads, d / heads]);
  const [q, k, v] = split(transpose(qkv, [2, 0, 3, 1, 4]), [1, 1, 1], 0).map((p) => reshape(p, [b, heads, t, d / heads]));
  const merged = reshape(transpose(attention(q!, k!, v!), [0, 2, 1, 3]), [b, t, d]);
  return linear(scope.child("proj"), merged, d);
};

/** Pre-norm transformer block: x + attn(ln(x)), then + mlp(ln(x)). */
export const transformerBlock = (scope: ParamScope, x: Tensor, heads: number, mlpRatio = 4): Tensor => {
  const d = x.shape[x.shape.length - 1]!;
  const h = add(x, selfAttention(scope.child("attn"), layerNorm(scope.child("norm1"), x), heads));
  return add(h, mlp(scope.child("mlp"), layerNorm(scope.child("norm2"), h), mlpRatio * d));
};
