import type { TensorSpec } from "../tensor.ts";
import { broadcastShapes, type InferContext, intAttr, type OpDef, required, sameDtype } from "./types.ts";

/** Batched matrix product with either operand's last two axes optionally read transposed. */
const batchedProduct = (ctx: InferContext, transA: boolean, transB: boolean): TensorSpec[] => {
  const [a, b] = [required(ctx, 0, "A"), required(ctx, 1, "B")];
  sameDtype(ctx, [a, b]);
  if (a.shape.length < 2 || b.shape.length < 2) ctx.fail("both operands need rank >= 2 (reshape vectors to [1,K] or [K,1])");
  const [m, k] = (transA ? a.shape.slice(-2).reverse() : a.shape.slice(-2)) as [number, number];
  const [k2, n] = (transB ? b.shape.slice(-2).reverse() : b.shape.slice(-2)) as [number, number];
  if (k !== k2) ctx.fail(`inner dimensions differ: ${k} vs ${k2}`);
  const batch = broadcastShapes(ctx, [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  return [{ dtype: a.dtype, shape: [...batch, m, n] }];
};

export const linalgOps: Record<string, OpDef> = {
  MatMul: { attrs: {}, infer: (ctx) => batchedProduct(ctx, false, false) },
  /**
   * ORT's contrib alpha * op(A) @ op(B) (float32 on the CPU provider): MLAS reads a transposed operand in place,
   * so a backward pass or q k^T needs no Transpose node, and the attention scale needs no Mul.
   */
  FusedMatMul: {
    domain: "com.microsoft",
    attrs: { alpha: "float", transA: "int", transB: "int" },
    infer: (ctx) => {
      if (required(ctx, 0, "A").dtype !== "float32") ctx.fail("ORT implements it for float32 only");
      return batchedProduct(ctx, intAttr(ctx, "transA", 0) === 1, intAttr(ctx, "transB", 0) === 1);
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
