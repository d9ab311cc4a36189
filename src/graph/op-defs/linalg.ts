import { broadcastShapes, intAttr, type OpDef, required, sameDtype } from "./types.ts";

export const linalgOps: Record<string, OpDef> = {
  MatMul: {
    attrs: {},
    infer: (ctx) => {
      const [a, b] = [required(ctx, 0, "A"), required(ctx, 1, "B")];
      sameDtype(ctx, [a, b]);
      if (a.shape.length < 2 || b.shape.length < 2) ctx.fail("both operands need rank >= 2 (reshape vectors to [1,K] or [K,1])");
      const [m, k] = a.shape.slice(-2) as [number, number];
      const [k2, n] = b.shape.slice(-2) as [number, number];
      if (k !== k2) ctx.fail(`inner dimensions differ: ${k} vs ${k2}`);
      const batch = broadcastShapes(ctx, [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
      return [{ dtype: a.dtype, shape: [...batch, m, n] }];
    },
  },
  Gemm: {
    attrs: { transA: "int", transB: "int", alpha: "float", beta: "float" },
    infer: (ctx) => {
      const [a, b] = [required(ctx, 0, "A"), required(ctx, 1, "B")];
      sameDtype(ctx, [a, b]);
      if (a.shape.length !== 2 || b.shape.length !== 2) ctx.fail("A and B must be 2-D");
      const [m, k] = intAttr(ctx, "transA", 0) ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
      const [k2, n] = intAttr(ctx, "transB", 0) ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
      if (k !== k2) ctx.fail(`inner dimensions differ: ${k} vs ${k2}`);
      const c = ctx.inputs[2];
      if (c && broadcastShapes(ctx, [c.shape, [m, n]]).join() !== [m, n].join()) ctx.fail(`C does not broadcast to [${m},${n}]`);
      return [{ dtype: a.dtype, shape: [m, n] }];
    },
  },
};
