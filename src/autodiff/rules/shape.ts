import { sliceBounds } from "../../graph/op-defs/shape.ts";
import { concat, expand, pad, reduceSum, reshape, scatterNdAdd, slice, transpose, unsqueeze } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { axisAttr, grad, input, type Rule, sumToShape } from "../rule.ts";

const ints = (t: Tensor | undefined): number[] => Array.from((t?.constValue ?? []) as ArrayLike<number | bigint>, Number);

const reshapeBack: Rule = (ctx) => [reshape(grad(ctx), input(ctx, 0).shape)];

const zerosLike = (t: Tensor): Tensor => expand(t.graph.scalar(0, t.dtype), t.shape);

/** Moves `axis` to the front (and back): Gather and its scatter work on axis 0. */
const axisToFront = (rank: number, axis: number): number[] => [axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis)];
const inverse = (perm: readonly number[]): number[] => perm.map((_, i) => perm.indexOf(i));

export const shapeRules: Record<string, Rule> = {
  Reshape: reshapeBack,
  Unsqueeze: reshapeBack,
  Squeeze: reshapeBack,
  Expand: (ctx) => [sumToShape(grad(ctx), input(ctx, 0).shape)],
  Transpose: (ctx) => {
    const rank = input(ctx, 0).shape.length;
    const perm = (ctx.node.attrs.perm as number[] | undefined) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    return [transpose(grad(ctx), inverse(perm))];
  },
  Concat: (ctx) => {
    const rank = input(ctx, 0).shape.length;
    const axis = axisAttr(ctx, rank, 0);
    let offset = 0;
    return ctx.node.inputs.map((t, k) => {
      const start = offset;
      offset += t!.shape[axis]!;
      return ctx.needs[k] ? slice(grad(ctx), [start], [offset], [axis]) : undefined;
    });
  },
  Split: (ctx) => {
    const x = input(ctx, 0);
    const rank = x.shape.length;
    const axis = axisAttr(ctx, rank, 0);
    const parts = ctx.node.outputs.map((out, k) => ctx.grads[k] ?? zerosLike(out));
    return [concat(parts, axis)];
  },
  Slice: (ctx) => {
    const x = input(ctx, 0);
    const rank = x.shape.length;
    const starts = ints(ctx.node.inputs[1]);
    const ends = ints(ctx.node.inputs[2]);
    const axes = ctx.node.inputs[3] ? ints(ctx.node.inputs[3]) : starts.map((_, i) => i);
    const steps = ctx.node.inputs[4] ? ints(ctx.node.inputs[4]) : starts.map(() => 1);
    let g = grad(ctx);
    axes.forEach((a, i) => {
      const axis = (a + rank) % rank;
      const step = steps[i]!;
      if (step < 1) throw new Error(`Slice backward supports positive steps only (node '${ctx.node.name}', axis ${axis}, step ${step})`);
      const { start, length } = sliceBounds(x.shape[axis]!, starts[i]!, ends[i]!, step);
      const dim = x.shape[axis]!;
      let span = length;
      if (step > 1) {
        // Strided picks (x[..., ::2] in RoPE): interleave step-1 zeros after each gradient element, then trim.
        const spreadPads = new Array<number>(2 * (rank + 1)).fill(0);
        spreadPads[axis + 1 + rank + 1] = step - 1;
        const spread = reshape(pad(unsqueeze(g, [axis + 1]), spreadPads), g.shape.map((d, k) => (k === axis ? d * step : d)));
        span = Math.min(length * step, dim - start);
        g = span === length * step ? spread : slice(spread, [0], [span], [axis]);
      }
      const pads = new Array<number>(2 * rank).fill(0);
      pads[axis] = start;
      pads[axis + rank] = dim - start - span;
      g = pad(g, pads);
    });
    return [g];
  },
  Pad: (ctx) => {
    const x = input(ctx, 0);
    if ((ctx.node.attrs.mode ?? "constant") !== "constant") throw new Error(`Pad backward supports constant mode only (node '${ctx.node.name}')`);
    const pads = ints(ctx.node.inputs[1]);
    const rank = x.shape.length;
    return [slice(grad(ctx), pads.slice(0, rank), x.shape.map((d, i) => pads[i]! + d), x.shape.map((_, i) => i))];
  },
  Gather: (ctx) => {
    const [x, indices] = [input(ctx, 0), input(ctx, 1)];
    const rank = x.shape.length;
    const axis = axisAttr(ctx, rank, 0);
    // Scatter-add the output gradient into zeros of the data shape, with the gathered axis moved first.
    const g = grad(ctx);
    const gAxes = Array.from({ length: g.shape.length }, (_, i) => i);
    const idxRank = indices.shape.length;
    const gFront = transpose(g, [...gAxes.slice(axis, axis + idxRank), ...gAxes.slice(0, axis), ...gAxes.slice(axis + idxRank)]);
    const perm = axisToFront(rank, axis);
    const zeros = zerosLike(transpose(x, perm));
    const scattered = scatterNdAdd(zeros, unsqueeze(indices, [-1]), gFront);
    return [transpose(scattered, inverse(perm)), undefined];
  },
  Resize: (ctx) => {
    const x = input(ctx, 0);
    const out = ctx.node.outputs[0]!;
    const factors = out.shape.map((d, i) => d / x.shape[i]!);
    if ((ctx.node.attrs.mode ?? "nearest") !== "nearest" || factors.some((f) => !Number.isInteger(f))) {
      throw new Error(`Resize backward supports nearest upsampling by integer factors only (node '${ctx.node.name}')`);
    }
    // Each input pixel was copied into a block of factor^k outputs: fold the blocks and sum them.
    const split = x.shape.flatMap((d, i) => [d, factors[i]!]);
    const blockAxes = x.shape.map((_, i) => 2 * i + 1);
    return [reshape(reduceSum(reshape(grad(ctx), split), blockAxes, false), x.shape)];
  },
};
