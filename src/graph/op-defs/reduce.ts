import { constInts, intAttr, normaliseAxis, type OpDef, required } from "./types.ts";

const reduction: OpDef = {
  attrs: { keepdims: "int", noop_with_empty_axes: "int" },
  infer: (ctx) => {
    const x = required(ctx, 0, "data");
    const axes = ctx.inputs[1] ? constInts(ctx, 1, "axes").map((a) => normaliseAxis(ctx, a, x.shape.length)) : x.shape.map((_, i) => i);
    const keep = intAttr(ctx, "keepdims", 1) === 1;
    const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    return [{ dtype: x.dtype, shape }];
  },
};

export const reduceOps: Record<string, OpDef> = {
  ReduceSum: reduction,
  ReduceMean: reduction,
  ReduceMax: reduction,
};
