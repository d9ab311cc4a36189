import { isFloat } from "../../graph/dtype.ts";
import { add, and, cast, cos, div, erf, exp, greater, greaterOrEqual, lessOrEqual, log, mul, neg, pow, sigmoid, sign, sin, square, sub, tanh, where } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, output, type Rule, sumToShape } from "../rule.ts";

/** Gradients of broadcasting binary ops: compute each side's local gradient, then undo the broadcast. */
const binary = (local: (g: Tensor, a: Tensor, b: Tensor, y: Tensor, needs: readonly boolean[]) => [Tensor | undefined, Tensor | undefined]): Rule => (ctx) => {
  const [a, b] = [input(ctx, 0), input(ctx, 1)];
  const [ga, gb] = local(grad(ctx), a, b, output(ctx), ctx.needs);
  return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
};

const unary = (local: (g: Tensor, x: Tensor, y: Tensor) => Tensor): Rule => (ctx) => [local(grad(ctx), input(ctx, 0), output(ctx))];

const SQRT_2 = Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_TANH_C = Math.sqrt(2 / Math.PI);

const geluGrad = (g: Tensor, x: Tensor, approximate: string): Tensor => {
  if (approximate === "tanh") {
    // y = 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3)
    const t = tanh(mul(add(x, mul(pow(x, 3), 0.044715)), GELU_TANH_C));
    const du = mul(add(mul(square(x), 3 * 0.044715), 1), GELU_TANH_C);
    const dy = add(mul(add(t, 1), 0.5), mul(mul(mul(x, 0.5), sub(1, square(t))), du));
    return mul(g, dy);
  }
  // x * (1/sqrt 2): a Mul costs a fraction of a Div over the MLP's widest activation.
  const cdf = mul(add(erf(mul(x, 1 / SQRT_2)), 1), 0.5);
  const pdf = mul(exp(mul(square(x), -0.5)), INV_SQRT_2PI);
  return mul(g, add(cdf, mul(x, pdf)));
};

export const elementwiseRules: Record<string, Rule> = {
  // Each side is built only when needed: ORT runs a dead node all the same (a target's gradient, say).
  Add: binary((g, _a, _b, _y, needs) => [needs[0] ? g : undefined, needs[1] ? g : undefined]),
  Sub: binary((g, _a, _b, _y, needs) => [needs[0] ? g : undefined, needs[1] ? neg(g) : undefined]),
  // x * x (a square): one product and a doubling rather than two products and their sum.
  Mul: binary((g, a, b, _y, needs) =>
    a === b ? [needs[0] ? mul(mul(g, a), 2) : undefined, undefined] : [needs[0] ? mul(g, b) : undefined, needs[1] ? mul(g, a) : undefined],
  ),
  Div: binary((g, a, b, _y, needs) => [needs[0] ? div(g, b) : undefined, needs[1] ? neg(div(mul(g, a), square(b))) : undefined]),
  Pow: binary((g, a, b, y, needs) => [
    needs[0] ? mul(g, mul(b, pow(a, sub(b, 1)))) : undefined,
    needs[1] ? mul(g, mul(y, log(a))) : undefined,
  ]),
  // Ties send the whole gradient to the first operand, as torch.max does for its first argument.
  Max: binary((g, a, b) => {
    const first = greaterOrEqual(a, b);
    return [where(first, g, 0), where(first, 0, g)];
  }),
  Min: binary((g, a, b) => {
    const first = lessOrEqual(a, b);
    return [where(first, g, 0), where(first, 0, g)];
  }),
  Where: (ctx) => {
    const [cond, a, b] = [input(ctx, 0), input(ctx, 1), input(ctx, 2)];
    const g = grad(ctx);
    return [undefined, ctx.needs[1] ? sumToShape(where(cond, g, 0), a.shape) : undefined, ctx.needs[2] ? sumToShape(where(cond, 0, g), b.shape) : undefined];
  },
  Clip: (ctx) => {
    const [x, lo, hi] = [input(ctx, 0), ctx.node.inputs[1], ctx.node.inputs[2]];
    let inside: Tensor | undefined;
    if (lo) inside = greaterOrEqual(x, lo);
    if (hi) inside = inside ? and(inside, lessOrEqual(x, hi)) : lessOrEqual(x, hi);
    return [inside ? where(inside, grad(ctx), 0) : grad(ctx)];
  },
  Identity: unary((g) => g),
  Neg: unary((g) => neg(g)),
  Exp: unary((g, _x, y) => mul(g, y)),
  Log: unary((g, x) => div(g, x)),
  Sqrt: unary((g, _x, y) => div(mul(g, 0.5), y)),
  Abs: unary((g, x) => mul(g, sign(x))),
  Reciprocal: unary((g, _x, y) => neg(mul(g, square(y)))),
  Tanh: unary((g, _x, y) => mul(g, sub(1, square(y)))),
  Sigmoid: unary((g, _x, y) => mul(g, mul(y, sub(1, y)))),
  Relu: unary((g, x) => where(greater(x, 0), g, 0)),
  Softplus: unary((g, x) => mul(g, sigmoid(x))),
  Sin: unary((g, x) => mul(g, cos(x))),
  Cos: unary((g, x) => neg(mul(g, sin(x)))),
  Erf: unary((g, x) => mul(g, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI)))),
  Gelu: (ctx) => [geluGrad(grad(ctx), input(ctx, 0), (ctx.node.attrs.approximate as string | undefined) ?? "none")],
  Cast: (ctx) => [isFloat(input(ctx, 0).dtype) ? cast(grad(ctx), input(ctx, 0).dtype) : undefined],
};
