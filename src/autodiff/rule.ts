import type { Node, Tensor } from "../graph/graph.ts";
import type { Shape } from "../graph/tensor.ts";
import { reduceSum, reshape } from "../graph/ops.ts";

export interface RuleContext {
  readonly node: Node;
  /** Gradient of the loss w.r.t. each output; undefined where no gradient reaches that output. */
  readonly grads: readonly (Tensor | undefined)[];
  /** Which inputs need a gradient: a rule may skip building the others. */
  readonly needs: readonly boolean[];
}

/** A backward rule returns one gradient per input (undefined for inputs that get none). */
export type Rule = (ctx: RuleContext) => readonly (Tensor | undefined)[];

export const input = (ctx: RuleContext, i: number): Tensor => ctx.node.inputs[i]!;
export const output = (ctx: RuleContext, i = 0): Tensor => ctx.node.outputs[i]!;
export const grad = (ctx: RuleContext, i = 0): Tensor => ctx.grads[i]!;

/** The node's `axis` attribute (ONNX default `fallback`) as a non-negative axis of a rank-`rank` tensor. */
export const axisAttr = (ctx: RuleContext, rank: number, fallback: number): number =>
  (((ctx.node.attrs.axis as number | undefined) ?? fallback) + rank) % rank;

/** Reverses numpy broadcasting: sums the gradient over the axes that broadcasting expanded. */
export const sumToShape = (g: Tensor, shape: Shape): Tensor => {
  if (g.shape.join(",") === shape.join(",")) return g;
  const lead = g.shape.length - shape.length;
  const axes = g.shape.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1));
  const summed = axes.length ? reduceSum(g, axes, true) : g;
  return reshape(summed, shape);
};
