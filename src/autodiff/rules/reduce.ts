import { cast, div, equal, expand, reduceSum, reshape, where } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, type Rule, type RuleContext } from "../rule.ts";

const reducedAxes = (ctx: RuleContext): number[] => {
  const x = input(ctx, 0);
  const axesInput = ctx.node.inputs[1];
  if (!axesInput) return x.shape.map((_, i) => i);
  return Array.from(axesInput.constValue as ArrayLike<number | bigint>, (a) => (Number(a) + x.shape.length) % x.shape.length);
};

/** The output gradient reshaped to keepdims form and broadcast back over the reduced axes. */
const spreadBack = (ctx: RuleContext, g: Tensor): Tensor => {
  const x = input(ctx, 0);
  const axes = reducedAxes(ctx);
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return expand(reshape(g, keptShape), x.shape);
};

const reducedCount = (ctx: RuleContext): number => {
  const x = input(ctx, 0);
  return reducedAxes(ctx).reduce((n, a) => n * x.shape[a]!, 1);
};

export const reduceRules: Record<string, Rule> = {
  ReduceSum: (ctx) => [spreadBack(ctx, grad(ctx))],
  ReduceMean: (ctx) => [spreadBack(ctx, div(grad(ctx), reducedCount(ctx)))],
  // Tied maxima share the gradient equally, so the rule stays a valid subgradient.
  ReduceMax: (ctx) => {
    const x = input(ctx, 0);
    const isMax = equal(x, spreadBack(ctx, ctx.node.outputs[0]!));
    const ties = spreadBack(ctx, reduceSum(cast(isMax, x.dtype), reducedAxes(ctx), true));
    return [where(isMax, div(spreadBack(ctx, grad(ctx)), ties), 0)];
  },
};
