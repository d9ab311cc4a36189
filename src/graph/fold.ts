/**
 * CPU evaluation of the shape arithmetic exporters write (Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape, Range, ConstantOfShape, Where, ...). Once the importer has fixed every dimension, these
 * subgraphs have constant inputs and fold away, which leaves a static graph the builder can type.
 */
import type { AnyTypedArray, DType } from "./dtype.ts";
import { dtypeFromOnnx, typedArrayFrom } from "./dtype.ts";
import type { Attrs } from "./tensor.ts";
import type { ConstValue } from "./onnx-tensors.ts";
import { sliceBounds } from "./op-defs/shape.ts";

/** Folding is for shape arithmetic: bigger outputs are left to the runtime (which folds them itself). */
const FOLD_LIMIT = 1 << 16;

const numbers = (v: ConstValue): number[] => Array.from(v.values as ArrayLike<number | bigint>, Number);
const make = (dtype: DType, shape: readonly number[], values: ArrayLike<number>): ConstValue => ({ dtype, shape: [...shape], values: typedArrayFrom(dtype, values) });
const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const stridesOf = (shape: readonly number[]): number[] => {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  return strides;
};
const axis = (a: number, rank: number): number => (a < 0 ? a + rank : a);

/** Numpy broadcasting of n operands through an element function. */
const broadcast = (dtype: DType, args: readonly ConstValue[], f: (xs: number[]) => number): ConstValue => {
  const rank = Math.max(...args.map((a) => a.shape.length));
  const shape = Array.from({ length: rank }, (_, i) => Math.max(...args.map((a) => a.shape[a.shape.length - rank + i] ?? 1)));
  const data = args.map(numbers);
  const argStrides = args.map((a) => {
    const s = stridesOf(a.shape);
    return shape.map((_, i) => {
      const j = a.shape.length - rank + i;
      return j < 0 || a.shape[j] === 1 ? 0 : s[j]!;
    });
  });
  const outStrides = stridesOf(shape);
  const out = new Array<number>(count(shape));
  for (let k = 0; k < out.length; k++) {
    const xs = args.map((_, a) => {
      let idx = 0;
      let rest = k;
      for (let i = 0; i < rank; i++) {
        const c = Math.floor(rest / outStrides[i]!);
        rest -= c * outStrides[i]!;
        idx += c * argStrides[a]![i]!;
      }
      return data[a]![idx]!;
    });
    out[k] = f(xs);
  }
  return make(dtype, shape, out);
};

const isInt = (d: DType) => d === "int64" || d === "int32";

type Folder = (inputs: readonly (ConstValue | undefined)[], attrs: Attrs) => ConstValue[];

const elementwise = (f: (xs: number[], dtype: DType) => number, bool = false): Folder => (inputs) => {
  const args = inputs as ConstValue[];
  const dtype = args[args.length > 2 ? 1 : 0]!.dtype;
  return [broadcast(bool ? "bool" : dtype, args, (xs) => f(xs, dtype))];
};

const ints = (v: ConstValue | undefined): number[] | undefined => (v ? numbers(v) : undefined);

/** Picks `idx` along `ax` by copying whole inner blocks of the typed array (no per-element work: this also serves big constants). */
const gatherAxis = (x: ConstValue, idx: readonly number[], idxShape: readonly number[], ax: number): ConstValue => {
  const outer = count(x.shape.slice(0, ax));
  const inner = count(x.shape.slice(ax + 1));
  const dim = x.shape[ax]!;
  // Same element type as the source; typed to one concrete array so set/subarray type-check.
  const src = x.values as Float32Array;
  const out = new (src.constructor as Float32ArrayConstructor)(outer * idx.length * inner);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of idx) {
      const from = (o * dim + (i < 0 ? i + dim : i)) * inner;
      out.set(src.subarray(from, from + inner), at);
      at += inner;
    }
  }
  return { dtype: x.dtype, shape: [...x.shape.slice(0, ax), ...idxShape, ...x.shape.slice(ax + 1)], values: out };
};

export const folders: Readonly<Record<string, Folder>> = {
  Identity: ([x]) => [x!],
  Cast: ([x], attrs) => {
    const to = dtypeFromOnnx(attrs.to as number) ?? "float32";
    return [make(to, x!.shape, numbers(x!).map((v) => (isInt(to) ? Math.trunc(v) : v)))];
  },
  Add: elementwise(([a, b]) => a! + b!),
  Sub: elementwise(([a, b]) => a! - b!),
  Mul: elementwise(([a, b]) => a! * b!),
  Div: elementwise(([a, b], d) => (isInt(d) ? Math.trunc(a! / b!) : a! / b!)),
  Mod: elementwise(([a, b]) => ((a! % b!) + b!) % b!),
  Pow: elementwise(([a, b]) => a! ** b!),
  Min: elementwise((xs) => Math.min(...xs)),
  Max: elementwise((xs) => Math.max(...xs)),
  Neg: elementwise(([a]) => -a!),
  Abs: elementwise(([a]) => Math.abs(a!)),
  Sqrt: elementwise(([a]) => Math.sqrt(a!)),
  Floor: elementwise(([a]) => Math.floor(a!)),
  Ceil: elementwise(([a]) => Math.ceil(a!)),
  Equal: elementwise(([a, b]) => Number(a === b), true),
  Less: elementwise(([a, b]) => Number(a! < b!), true),
  Greater: elementwise(([a, b]) => Number(a! > b!), true),
  And: elementwise(([a, b]) => Number(!!a && !!b), true),
  Or: elementwise(([a, b]) => Number(!!a || !!b), true),
  Not: elementwise(([a]) => Number(!a), true),
  Where: elementwise(([c, a, b]) => (c ? a! : b!)),
  Range: ([start, limit, delta]) => {
    const [s, l, d] = [numbers(start!)[0]!, numbers(limit!)[0]!, numbers(delta!)[0]!];
    const n = Math.max(0, Math.ceil((l - s) / d));
    return [make(start!.dtype, [n], Array.from({ length: n }, (_, i) => s + i * d))];
  },
  ConstantOfShape: ([shape], attrs) => {
    const value = attrs.value as unknown as ConstValue | undefined;
    const dims = numbers(shape!);
    const fill = value ? numbers(value)[0]! : 0;
    return [make(value?.dtype ?? "float32", dims, new Array<number>(count(dims)).fill(fill))];
  },
  Unsqueeze: ([x, axes], attrs) => {
    const a = ints(axes) ?? (attrs.axes as number[]);
    const rank = x!.shape.length + a.length;
    const set = new Set(a.map((v) => axis(v, rank)));
    const rest = [...x!.shape];
    return [{ ...x!, shape: Array.from({ length: rank }, (_, i) => (set.has(i) ? 1 : rest.shift()!)) }];
  },
  Squeeze: ([x, axes], attrs) => {
    const a = ints(axes) ?? (attrs.axes as number[] | undefined);
    const set = new Set((a ?? x!.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((v) => axis(v, x!.shape.length)));
    return [{ ...x!, shape: x!.shape.filter((_, i) => !set.has(i)) }];
  },
  Reshape: ([x, shape]) => {
    const target = numbers(shape!).map((d, i) => (d === 0 ? x!.shape[i]! : d));
    const known = count(target.filter((d) => d !== -1));
    return [{ ...x!, shape: target.map((d) => (d === -1 ? count(x!.shape) / known : d)) }];
  },
  Concat: (inputs, attrs) => {
    const parts = inputs as ConstValue[];
    const ax = axis(attrs.axis as number, parts[0]!.shape.length);
    const outer = count(parts[0]!.shape.slice(0, ax));
    const out: number[] = [];
    const data = parts.map(numbers);
    for (let o = 0; o < outer; o++) {
      parts.forEach((p, k) => {
        const block = count(p.shape.slice(ax));
        out.push(...data[k]!.slice(o * block, (o + 1) * block));
      });
    }
    const shape = [...parts[0]!.shape];
    shape[ax] = parts.reduce((s, p) => s + p.shape[ax]!, 0);
    return [make(parts[0]!.dtype, shape, out)];
  },
  Gather: ([x, indices], attrs) => [gatherAxis(x!, numbers(indices!), indices!.shape, axis((attrs.axis as number | undefined) ?? 0, x!.shape.length))],
  Slice: ([x, starts, ends, axes, steps]) => {
    const st = numbers(starts!);
    const en = numbers(ends!);
    const ax = (ints(axes) ?? st.map((_, i) => i)).map((a) => axis(a, x!.shape.length));
    const sp = ints(steps) ?? st.map(() => 1);
    let value: ConstValue = x!;
    ax.forEach((a, i) => {
      const { start, length } = sliceBounds(value.shape[a]!, st[i]!, en[i]!, sp[i]!);
      const idx = Array.from({ length }, (_, k) => start + k * sp[i]!);
      value = gatherAxis(value, idx, [length], a);
    });
    return [value];
  },
  Expand: ([x, shape]) => {
    const target = numbers(shape!);
    return [broadcast(x!.dtype, [x!, make("int64", target, new Array<number>(count(target)).fill(0))], ([v]) => v!)];
  },
  Transpose: ([x], attrs) => {
    const rank = x!.shape.length;
    const perm = (attrs.perm as number[] | undefined) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const shape = perm.map((p) => x!.shape[p]!);
    const inStrides = stridesOf(x!.shape);
    const outStrides = stridesOf(shape);
    const data = numbers(x!);
    const out = new Array<number>(data.length);
    for (let k = 0; k < out.length; k++) {
      let rest = k;
      let idx = 0;
      for (let i = 0; i < rank; i++) {
        const c = Math.floor(rest / outStrides[i]!);
        rest -= c * outStrides[i]!;
        idx += c * inStrides[perm[i]!]!;
      }
      out[k] = data[idx]!;
    }
    return [make(x!.dtype, shape, out)];
  },
};

/** Ops that fold without touching elements (a new shape over the same values), whatever the size. */
const VIEWS = new Set(["Identity", "Reshape", "Squeeze", "Unsqueeze"]);
/** Ops that fold by block copies; worth it even for big constants (e.g. the crop of SD3's 0.9 GB position table). */
const BLOCK_COPIES = new Set(["Slice", "Gather"]);
const BLOCK_COPY_LIMIT = 2 ** 30;

/** Whether to fold now: element-wise arithmetic only on shape-sized values, views and block copies of any constant. */
export const foldable = (op: string, inputs: readonly (ConstValue | undefined)[]): boolean => {
  if (!(op in folders)) return false;
  if (VIEWS.has(op)) return inputs.slice(1).every((v) => !v || count(v.shape) <= FOLD_LIMIT);
  if (BLOCK_COPIES.has(op)) return inputs.slice(1).every((v) => !v || count(v.shape) <= FOLD_LIMIT) && count(inputs[0]!.shape) <= BLOCK_COPY_LIMIT;
  return inputs.every((v) => !v || count(v.shape) <= FOLD_LIMIT) && !(op === "ConstantOfShape" && count(numbers(inputs[0]!)) > FOLD_LIMIT) && !(op === "Expand" && count(numbers(inputs[1]!)) > FOLD_LIMIT);
};

export const constOf = (dtype: DType, shape: readonly number[], values: AnyTypedArray): ConstValue => ({ dtype, shape, values });
