import { fusedMatMul, gemm, matmul, mul, reshape, transpose } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, type Rule, sumToShape } from "../rule.ts";

const swapLastPerm = (rank: number): number[] => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

/**
 * t with its last two axes swapped. When t is itself such a swap (attention's k^T), that Transpose's input is
 * the answer: no second copy.
 */
const swapLast = (t: Tensor): Tensor => {
  const perm = swapLastPerm(t.shape.length);
  const producer = t.graph.nodes.find((n) => n.outputs[0] === t);
  const swapped = producer?.op === "Transpose" && (producer.attrs.perm as readonly number[] | undefined)?.every((p, i) => p === perm[i]);
  return swapped ? producer.inputs[0]! : transpose(t, perm);
};

interface ProductOptions {
  readonly transA?: boolean;
  readonly transB?: boolean;
  readonly alpha?: number;
}

/**
 * alpha * op(a) @ op(b), op swapping the last two axes where asked. float32 uses FusedMatMul, which reads a
 * transposed operand in place; ORT implements it for float32 only, so other dtypes get explicit Transposes.
 */
export const product = (a: Tensor, b: Tensor, o: ProductOptions): Tensor => {
  if (a.dtype === "float32") return fusedMatMul(a, b, o);
  const y = matmul(o.transA ? swapLast(a) : a, o.transB ? swapLast(b) : b);
  return o.alpha === undefined || o.alpha === 1 ? y : mul(y, o.alpha);
};

/** A^T g for a 2-D weight B shared across A's batch: one Gemm over the flattened batch beats a batched MatMul + ReduceSum. */
const sharedWeightGrad = (a: Tensor, g: Tensor): Tensor => {
  const k = a.shape[a.shape.length - 1]!;
  const n = g.shape[g.shape.length - 1]!;
  return gemm(reshape(a, [-1, k]), reshape(g, [-1, n]), undefined, { transA: true });
};

/** g B^T for a 2-D weight B: Gemm's transB reads B transposed in place, where MatMul needs a Transpose node first. */
const sharedWeightInputGrad = (a: Tensor, b: Tensor, g: Tensor): Tensor =>
  reshape(gemm(reshape(g, [-1, g.shape[g.shape.length - 1]!]), b, undefined, { transB: true }), a.shape);

export const linalgRules: Record<string, Rule> = {
  MatMul: (ctx) => {
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const g = grad(ctx);
    const sharedWeight = b.shape.length === 2 && a.shape.length >= 2;
    const ga = !ctx.needs[0] ? undefined : sharedWeight ? sharedWeightInputGrad(a, b, g) : sumToShape(product(g, b, { transB: true }), a.shape);
    const gb = !ctx.needs[1] ? undefined : sharedWeight && a.shape.length > 2 ? sharedWeightGrad(a, g) : sumToShape(product(a, g, { transA: true }), b.shape);
    return [ga, gb];
  },
  // Y = alpha op(A) op(B): the same four cases as Gemm's, on batched operands.
  FusedMatMul: (ctx) => {
    const [a, b] = [input(ctx, 0), input(ctx, 1)];
    const g = grad(ctx);
    const transA = ctx.node.attrs.transA === 1;
    const transB = ctx.node.attrs.transB === 1;
    const alpha = (ctx.node.attrs.alpha as number | undefined) ?? 1;
    const ga = !ctx.needs[0] ? undefined : transA ? product(b, g, { transA: transB, transB: true, alpha }) : product(g, b, { transB: !transB, alpha });
    const gb = !ctx.needs[1] ? undefined : transB ? product(g, a, { transA: true, transB: transA, alpha }) : product(a, g, { transA: !transA, alpha });
    return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
  },
  Gemm: (ctx) => {
    const [a, b, c] = [input(ctx, 0), input(ctx, 1), ctx.node.inputs[2]];
    const g = grad(ctx);
    const transA = ctx.node.attrs.transA === 1;
    const transB = ctx.node.attrs.transB === 1;
    const alpha = (ctx.node.attrs.alpha as number | undefined) ?? 1;
    const beta = (ctx.node.attrs.beta as number | undefined) ?? 1;
    // dA' = alpha g B'^T and dB' = alpha A'^T g, written as Gemms on the stored (possibly transposed) operands.
    const ga = !ctx.needs[0] ? undefined : transA ? gemm(b, g, undefined, { transA: transB, transB: true, alpha }) : gemm(g, b, undefined, { transB: !transB, alpha });
    const gb = !ctx.needs[1] ? undefined : transB ? gemm(g, a, undefined, { transA: true, transB: transA, alpha }) : gemm(a, g, undefined, { transA: !transA, alpha });
    const gc = c && ctx.needs[2] ? sumToShape(beta === 1 ? g : mul(g, beta), c.shape) : undefined;
    return [ga, gb, gc];
  },
};
