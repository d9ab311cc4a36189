import { add, div, mul, reduceMean, reduceSum, reshape, sqrt, square, sub } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { axisAttr, grad, input, output, type Rule, sumToShape } from "../rule.ts";

/** A normalisation's statistics as its forward node returned them, shaped to broadcast over x. */
interface SavedStatistics {
  readonly mean: Tensor;
  readonly invStd: Tensor;
}

/**
 * Backward of x_hat = (x - mean) / sqrt(var + eps) over `axes`, given d(loss)/d(x_hat):
 * dx = (dxh - mean(dxh) - x_hat * mean(dxh * x_hat)) / sqrt(var + eps).
 * The statistics are recomputed unless the forward saved them.
 */
export const normalisedBackward = (x: Tensor, dxHat: Tensor, axes: readonly number[], epsilon: number, saved?: SavedStatistics): { dx: Tensor; xHat: Tensor } => {
  const centred = sub(x, saved?.mean ?? reduceMean(x, axes, true));
  const invStd = saved?.invStd ?? div(1, sqrt(add(reduceMean(square(centred), axes, true), epsilon)));
  const xHat = mul(centred, invStd);
  const dx = mul(invStd, sub(sub(dxHat, reduceMean(dxHat, axes, true)), mul(xHat, reduceMean(mul(dxHat, xHat), axes, true))));
  return { dx, xHat };
};

const epsilonOf = (attrs: Readonly<Record<string, unknown>>): number => (attrs.epsilon as number | undefined) ?? 1e-5;

/** g * scale, or g itself when the scale is a constant of ones (a norm whose affine comes from elsewhere, as adaLN's). */
const scaled = (g: Tensor, scale: Tensor, shapedScale: () => Tensor): Tensor =>
  scale.constValue !== undefined && Array.prototype.every.call(scale.constValue, (v: number | bigint) => Number(v) === 1) ? g : mul(g, shapedScale());

export const normRules: Record<string, Rule> = {
  Softmax: (ctx) => {
    const y = ctx.node.outputs[0]!;
    const axis = (ctx.node.attrs.axis as number | undefined) ?? -1;
    const g = grad(ctx);
    return [mul(y, sub(g, reduceSum(mul(g, y), [axis], true)))];
  },
  LayerNormalization: (ctx) => {
    const [x, scale, bias] = [input(ctx, 0), input(ctx, 1), ctx.node.inputs[2]];
    const g = grad(ctx);
    const rank = x.shape.length;
    const axis = axisAttr(ctx, rank, -1);
    const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
    if (ctx.grads[1] || ctx.grads[2]) throw new Error(`LayerNormalization backward: node '${ctx.node.name}' has a gradient through its Mean or InvStdDev output, which is not supported`);
    // Statistics stashed in x's own precision are what a recomputation would give up to rounding; a float32 stash of
    // a float64 x is not, so that case recomputes.
    const [mean, invStd] = [output(ctx, 1), output(ctx, 2)];
    const saved = mean.dtype === x.dtype ? { mean, invStd } : undefined;
    const { dx, xHat } = normalisedBackward(x, scaled(g, scale, () => scale), axes, epsilonOf(ctx.node.attrs), saved);
    return [dx, ctx.needs[1] ? sumToShape(mul(g, xHat), scale.shape) : undefined, bias && ctx.needs[2] ? sumToShape(g, bias.shape) : undefined];
  },
  GroupNormalization: (ctx) => {
    const [x, scale] = [input(ctx, 0), input(ctx, 1)];
    const g = grad(ctx);
    const groups = ctx.node.attrs.num_groups as number;
    const channels = x.shape[1]!;
    const perChannel = [channels, ...x.shape.slice(2).map(() => 1)];
    const grouped = [x.shape[0]!, groups, -1];
    const { dx, xHat } = normalisedBackward(reshape(x, grouped), reshape(scaled(g, scale, () => reshape(scale, perChannel)), grouped), [2], epsilonOf(ctx.node.attrs));
    const otherAxes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    return [
      reshape(dx, x.shape),
      ctx.needs[1] ? reduceSum(mul(g, reshape(xHat, x.shape)), otherAxes, false) : undefined,
      ctx.needs[2] ? reduceSum(g, otherAxes, false) : undefined,
    ];
  },
};
