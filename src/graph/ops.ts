/**
 * Typed helpers over Graph.op: the vocabulary models and backward rules are written in.
 * A plain number operand becomes a scalar constant of the other operand's dtype.
 */
import { onnxTypeCode, type DType } from "./dtype.ts";
import type { Tensor } from "./graph.ts";
import type { Attrs } from "./tensor.ts";

type Operand = Tensor | number;

const one = (t: Tensor, op: string, inputs: readonly (Tensor | undefined)[], attrs?: Attrs): Tensor => t.graph.op(op, inputs, attrs)[0]!;

const lift = (a: Operand, b: Operand): [Tensor, Tensor] => {
  if (typeof a !== "number") return [a, typeof b === "number" ? a.graph.scalar(b, a.dtype) : b];
  if (typeof b !== "number") return [b.graph.scalar(a, b.dtype), b];
  throw new Error("at least one operand must be a tensor");
};

const binary = (op: string) => (a: Operand, b: Operand): Tensor => {
  const [x, y] = lift(a, b);
  return one(x, op, [x, y]);
};
const unary = (op: string) => (x: Tensor): Tensor => one(x, op, [x]);

export const add = binary("Add");
export const sub = binary("Sub");
export const mul = binary("Mul");
export const div = binary("Div");
export const pow = binary("Pow");
export const minimum = binary("Min");
export const maximum = binary("Max");
export const greater = binary("Greater");
export const greaterOrEqual = binary("GreaterOrEqual");
export const less = binary("Less");
export const lessOrEqual = binary("LessOrEqual");
export const equal = binary("Equal");
export const and = binary("And");

export const neg = unary("Neg");
export const exp = unary("Exp");
export const log = unary("Log");
export const sqrt = unary("Sqrt");
export const abs = unary("Abs");
export const sign = unary("Sign");
export const reciprocal = unary("Reciprocal");
export const tanh = unary("Tanh");
export const sigmoid = unary("Sigmoid");
export const relu = unary("Relu");
export const erf = unary("Erf");
export const sin = unary("Sin");
export const cos = unary("Cos");
export const softplus = unary("Softplus");
export const identity = unary("Identity");

export const square = (x: Tensor): Tensor => mul(x, x);
export const gelu = (x: Tensor, approximate: "none" | "tanh" = "none"): Tensor => one(x, "Gelu", [x], { approximate });
/** SiLU has no ONNX op below opset 24; x * sigmoid(x) differentiates through its parts. */
export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));

export const where = (cond: Tensor, a: Operand, b: Operand): Tensor => {
  const [x, y] = lift(a, b);
  return one(cond, "Where", [cond, x, y]);
};

export const clip = (x: Tensor, min?: number, max?: number): Tensor =>
  one(x, "Clip", [x, min === undefined ? undefined : x.graph.scalar(min, x.dtype), max === undefined ? undefined : x.graph.scalar(max, x.dtype)]);

export const cast = (x: Tensor, to: DType): Tensor => one(x, "Cast", [x], { to: onnxTypeCode[to] });

export const matmul = (a: Tensor, b: Tensor): Tensor => one(a, "MatMul", [a, b]);

/** alpha * op(a) @ op(b), op transposing the last two axes where asked (float32: ORT's contrib FusedMatMul). */
export const fusedMatMul = (a: Tensor, b: Tensor, o: { transA?: boolean; transB?: boolean; alpha?: number } = {}): Tensor =>
  one(a, "FusedMatMul", [a, b], { alpha: o.alpha ?? 1, transA: o.transA ? 1 : 0, transB: o.transB ? 1 : 0 });

export interface GemmOptions {
  readonly transA?: boolean;
  readonly transB?: boolean;
  readonly alpha?: number;
  readonly beta?: number;
}
export const gemm = (a: Tensor, b: Tensor, c?: Tensor, o: GemmOptions = {}): Tensor =>
  one(a, "Gemm", [a, b, c], { transA: o.transA ? 1 : 0, transB: o.transB ? 1 : 0, alpha: o.alpha ?? 1, beta: o.beta ?? 1 });

export interface ConvOptions {
  readonly strides?: readonly number[];
  readonly pads?: readonly number[];
  readonly dilations?: readonly number[];
  readonly group?: number;
}
const convAttrs = (o: ConvOptions): Attrs => ({
  ...(o.strides ? { strides: o.strides } : {}),
  ...(o.pads ? { pads: o.pads } : {}),
  ...(o.dilations ? { dilations: o.dilations } : {}),
  ...(o.group ? { group: o.group } : {}),
});
export const conv = (x: Tensor, w: Tensor, bias?: Tensor, o: ConvOptions = {}): Tensor => one(x, "Conv", [x, w, bias], convAttrs(o));
export const convTranspose = (x: Tensor, w: Tensor, bias?: Tensor, o: ConvOptions & { outputPadding?: readonly number[] } = {}): Tensor =>
  one(x, "ConvTranspose", [x, w, bias], { ...convAttrs(o), ...(o.outputPadding ? { output_padding: o.outputPadding } : {}) });

/** To x's own shape it is x itself: ORT runs every node it is given, a no-op Reshape included. */
export const reshape = (x: Tensor, shape: readonly number[]): Tensor =>
  shape.length === x.shape.length && shape.every((d, i) => d === x.shape[i]) ? x : one(x, "Reshape", [x, x.graph.ints(shape)]);
export const transpose = (x: Tensor, perm: readonly number[]): Tensor => one(x, "Transpose", [x], { perm });
export const concat = (parts: readonly Tensor[], axis: number): Tensor => one(parts[0]!, "Concat", parts, { axis });
export const slice = (x: Tensor, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Tensor =>
  one(x, "Slice", [x, x.graph.ints(starts), x.graph.ints(ends), x.graph.ints(axes), steps ? x.graph.ints(steps) : undefined]);
export const split = (x: Tensor, sizes: readonly number[], axis: number): Tensor[] => x.graph.op("Split", [x, x.graph.ints(sizes)], { axis });
export const gather = (x: Tensor, indices: Tensor, axis = 0): Tensor => one(x, "Gather", [x, indices], { axis });
export const scatterNdAdd = (data: Tensor, indices: Tensor, updates: Tensor): Tensor => one(data, "ScatterND", [data, indices, updates], { reduction: "add" });
export const expand = (x: Tensor, shape: readonly number[]): Tensor => one(x, "Expand", [x, x.graph.ints(shape)]);
export const unsqueeze = (x: Tensor, axes: readonly number[]): Tensor => one(x, "Unsqueeze", [x, x.graph.ints(axes)]);
export const squeeze = (x: Tensor, axes: readonly number[]): Tensor => one(x, "Squeeze", [x, x.graph.ints(axes)]);
export const pad = (x: Tensor, pads: readonly number[]): Tensor => one(x, "Pad", [x, x.graph.ints(pads)]);

const reduce = (op: string) => (x: Tensor, axes?: readonly number[], keepdims = false): Tensor =>
  one(x, op, [x, axes ? x.graph.ints(axes) : undefined], { keepdims: keepdims ? 1 : 0 });
export const reduceSum = reduce("ReduceSum");
export const reduceMean = reduce("ReduceMean");
export const reduceMax = reduce("ReduceMax");

export const softmax = (x: Tensor, axis = -1): Tensor => one(x, "Softmax", [x], { axis });
export const layerNorm = (x: Tensor, scale: Tensor, bias: Tensor | undefined, axis = -1, epsilon = 1e-5): Tensor =>
  one(x, "LayerNormalization", [x, scale, bias], { axis, epsilon });
export const groupNorm = (x: Tensor, scale: Tensor, bias: Tensor, numGroups: number, epsilon = 1e-5): Tensor =>
  one(x, "GroupNormalization", [x, scale, bias], { num_groups: numGroups, epsilon });

/** Nearest-neighbour upsampling of the spatial dims of [N,C,H,W] by an integer factor. */
export const upsampleNearest = (x: Tensor, factor: number): Tensor => {
  const scales = x.graph.constant(Float32Array.from(x.shape.map((_, i) => (i < 2 ? 1 : factor))), "float32", [x.shape.length], "scales");
  return one(x, "Resize", [x, undefined, scales], { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" });
};

/**
 * Scaled dot-product attention over q, k, v [B,H,T,Dh], composed of FusedMatMul (k read transposed in place, the
 * scale as its alpha; float32 only, so other dtypes transpose k and scale the scores), Softmax and MatMul, so
 * autodiff covers it.
 */
export const attention = (q: Tensor, k: Tensor, v: Tensor): Tensor => {
  const scale = 1 / Math.sqrt(q.shape[q.shape.length - 1]!);
  const rank = k.shape.length;
  const scores =
    q.dtype === "float32" ? fusedMatMul(q, k, { transB: true, alpha: scale }) : mul(matmul(q, transpose(k, [...k.shape.slice(0, -2).map((_, i) => i), rank - 1, rank - 2])), scale);
  return matmul(softmax(scores, -1), v);
};

/** Sum of all elements to a scalar. */
export const sumAll = (x: Tensor): Tensor => reduceSum(x, undefined, false);
export const meanAll = (x: Tensor): Tensor => reduceMean(x, undefined, false);
