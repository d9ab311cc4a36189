import { broadcastShapes, constInts, intAttr, intsAttr, normaliseAxis, type OpDef, required, sameDtype } from "./types.ts";

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Resolves ONNX slice bounds (negative indices, clamping) for one axis. */
export const sliceBounds = (dim: number, start: number, end: number, step: number): { start: number; length: number } => {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const s = clamp(start < 0 ? start + dim : start, step > 0 ? 0 : -1, step > 0 ? dim : dim - 1);
  const e = clamp(end < 0 ? end + dim : end, step > 0 ? 0 : -1, step > 0 ? dim : dim - 1);
  const length = Math.max(0, Math.ceil((e - s) / step));
  return { start: s, length };
};

export const shapeOps: Record<string, OpDef> = {
  Reshape: {
    attrs: { allowzero: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const copyZeros = intAttr(ctx, "allowzero", 0) === 0;
      const target = constInts(ctx, 1, "shape").map((d, i) => (d === 0 && copyZeros ? (x.shape[i] ?? ctx.fail("0 in shape past input rank")) : d));
      const known = count(target.filter((d) => d !== -1));
      const inferred = target.map((d) => (d === -1 ? count(x.shape) / known : d));
      if (target.filter((d) => d === -1).length > 1 || count(inferred) !== count(x.shape) || inferred.some((d) => !Number.isInteger(d))) {
        ctx.fail(`cannot reshape ${count(x.shape)} elements to [${target.join(",")}]`);
      }
      return [{ dtype: x.dtype, shape: inferred }];
    },
  },
  Transpose: {
    attrs: { perm: "ints" },
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const perm = intsAttr(ctx, "perm", x.shape.map((_, i) => x.shape.length - 1 - i));
      if (perm.length !== x.shape.length || [...perm].sort().some((p, i) => p !== i)) ctx.fail(`perm [${perm.join(",")}] is not a permutation of rank ${x.shape.length}`);
      return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
    },
  },
  Concat: {
    attrs: { axis: "int" },
    infer: (ctx) => {
      const parts = ctx.inputs.map((t, i) => t ?? ctx.fail(`missing input ${i}`));
      sameDtype(ctx, parts);
      const first = parts[0] ?? ctx.fail("needs at least one input");
      const axis = normaliseAxis(ctx, intAttr(ctx, "axis", 0), first.shape.length);
      for (const part of parts) {
        if (part.shape.length !== first.shape.length || part.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
          ctx.fail(`inputs must match on every axis but ${axis}`);
        }
      }
      const shape = [...first.shape];
      shape[axis] = parts.reduce((sum, p) => sum + p.shape[axis]!, 0);
      return [{ dtype: first.dtype, shape }];
    },
  },
  Slice: {
    attrs: {},
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const starts = constInts(ctx, 1, "starts");
      const ends = constInts(ctx, 2, "ends");
      const axes = ctx.inputs[3] ? constInts(ctx, 3, "axes") : starts.map((_, i) => i);
      const steps = ctx.inputs[4] ? constInts(ctx, 4, "steps") : starts.map(() => 1);
      const shape = [...x.shape];
      axes.forEach((a, i) => {
        const axis = normaliseAxis(ctx, a, x.shape.length);
        if (steps[i] === 0) ctx.fail("slice step 0");
        shape[axis] = sliceBounds(x.shape[axis]!, starts[i]!, ends[i]!, steps[i]!).length;
      });
      return [{ dtype: x.dtype, shape }];
    },
  },
  Split: {
    attrs: { axis: "int", num_outputs: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      const axis = normaliseAxis(ctx, intAttr(ctx, "axis", 0), x.shape.length);
      const sizes = constInts(ctx, 1, "split");
      if (sizes.reduce((a, b) => a + b, 0) !== x.shape[axis]) ctx.fail(`split sizes [${sizes.join(",")}] do not add up to dimension ${x.shape[axis]}`);
      return sizes.map((size) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? size : d)) }));
    },
  },
  Gather: {
    attrs: { axis: "int" },
    infer: (ctx) => {
      const [x, indices] = [required(ctx, 0, "data"), required(ctx, 1, "indices")];
      if (indices.dtype !== "int64" && indices.dtype !== "int32") ctx.fail(`indices must be int64 or int32, got ${indices.dtype}`);
      const axis = normaliseAxis(ctx, intAttr(ctx, "axis", 0), x.shape.length);
      return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)] }];
    },
  },
  ScatterND: {
    attrs: { reduction: "string" },
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      required(ctx, 1, "indices");
      required(ctx, 2, "updates");
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  Expand: {
    attrs: {},
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      return [{ dtype: x.dtype, shape: broadcastShapes(ctx, [x.shape, constInts(ctx, 1, "shape")]) }];
    },
  },
  Unsqueeze: {
    attrs: {},
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const rank = x.shape.length + constInts(ctx, 1, "axes").length;
      const axes = new Set(constInts(ctx, 1, "axes").map((a) => normaliseAxis(ctx, a, rank)));
      const rest = [...x.shape];
      return [{ dtype: x.dtype, shape: Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : rest.shift()!)) }];
    },
  },
  Squeeze: {
    attrs: {},
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const axes = new Set(constInts(ctx, 1, "axes").map((a) => normaliseAxis(ctx, a, x.shape.length)));
      for (const axis of axes) if (x.shape[axis] !== 1) ctx.fail(`cannot squeeze axis ${axis} of size ${x.shape[axis]}`);
      return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.has(i)) }];
    },
  },
  Pad: {
    attrs: { mode: "string" },
    infer: (ctx) => {
      const x = required(ctx, 0, "data");
      const pads = constInts(ctx, 1, "pads");
      if (pads.length !== 2 * x.shape.length) ctx.fail(`pads needs ${2 * x.shape.length} values, got ${pads.length}`);
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d + pads[i]! + pads[i + x.shape.length]!) }];
    },
  },
  Resize: {
    attrs: { mode: "string", coordinate_transformation_mode: "string", nearest_mode: "string", cubic_coeff_a: "float", antialias: "int", exclude_outside: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "X");
      if (ctx.inputs[3]) return [{ dtype: x.dtype, shape: constInts(ctx, 3, "sizes") }];
      const scales = Array.from(required(ctx, 2, "scales").constValue ?? ctx.fail("scales must be a constant"), Number);
      if (scales.length !== x.shape.length) ctx.fail(`scales needs ${x.shape.length} values`);
      return [{ dtype: x.dtype, shape: x.shape.map((d, i) => Math.floor(d * scales[i]!)) }];
    },
  },
};
