import type { Attrs, TensorInfo, TensorSpec } from "../tensor.ts";

export type AttrKind = "int" | "float" | "ints" | "floats" | "string";

export interface InferContext {
  readonly inputs: readonly (TensorInfo | undefined)[];
  readonly attrs: Attrs;
  /** Aborts building with a GraphShapeError naming the op, node and input shapes. */
  readonly fail: (reason: string) => never;
}

/** What the builder knows about an op: its attributes (for validation and serialisation) and its output specs. */
export interface OpDef {
  /** Operator set the op belongs to; absent for ai.onnx (com.microsoft: ORT's contrib ops). */
  readonly domain?: string;
  readonly attrs: Readonly<Record<string, AttrKind>>;
  readonly infer: (ctx: InferContext) => TensorSpec[];
}

export const required = (ctx: InferContext, index: number, what: string): TensorInfo =>
  ctx.inputs[index] ?? ctx.fail(`missing input ${index} (${what})`);

/** Reads a constant int64/int32 input (shape, axes, pads); shapes must be static to be inferred. */
export const constInts = (ctx: InferContext, index: number, what: string): number[] => {
  const tensor = required(ctx, index, what);
  if (!tensor.constValue) return ctx.fail(`input ${index} (${what}) must be a constant so the output shape is static`);
  return Array.from(tensor.constValue as ArrayLike<number | bigint>, Number);
};

export const intAttr = (ctx: InferContext, name: string, fallback: number): number => {
  const value = ctx.attrs[name];
  return value === undefined ? fallback : (value as number);
};

export const intsAttr = (ctx: InferContext, name: string, fallback: readonly number[]): readonly number[] =>
  (ctx.attrs[name] as readonly number[] | undefined) ?? fallback;

export const normaliseAxis = (ctx: InferContext, axis: number, rank: number): number => {
  const normalised = axis < 0 ? axis + rank : axis;
  if (normalised < 0 || normalised >= rank) ctx.fail(`axis ${axis} is out of range for rank ${rank}`);
  return normalised;
};

/** Numpy-style broadcasting of any number of shapes. */
export const broadcastShapes = (ctx: InferContext, shapes: readonly (readonly number[])[]): number[] => {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const shape of shapes) {
      const d = shape[shape.length - rank + i] ?? 1;
      if (d !== 1 && dim !== 1 && d !== dim) ctx.fail(`shapes cannot be broadcast together at dimension ${i} (${dim} vs ${d})`);
      if (d !== 1) dim = d;
    }
    out.push(dim);
  }
  return out;
};

export const sameDtype = (ctx: InferContext, tensors: readonly TensorInfo[]): void => {
  const first = tensors[0];
  for (const t of tensors) if (first && t.dtype !== first.dtype) ctx.fail(`dtypes differ: ${first.dtype} vs ${t.dtype}`);
};
