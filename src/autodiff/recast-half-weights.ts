/**
 * fp16 weights kept fp16 (graph/import.ts, float16 "keep") are cast to fp32 where the forward pass uses them.
 * A backward rule that reads that fp32 copy (MatMul's dX = dY W^T) would keep it alive from the forward pass to
 * the backward one, so a training graph would hold every weight twice, in fp16 and in fp32. Instead, each backward
 * node gets a cast of its own, made just before it: an fp32 copy then lives only around the node that reads it.
 * The values are the same (the cast is exact), so gradients do not change.
 */
import type { Graph, Tensor } from "../graph/graph.ts";
import { cast } from "../graph/ops.ts";

/** Rewrites the nodes from `firstBackward` on to read fresh casts of the fp16 constants that the forward pass cast. */
export const recastHalfWeights = (graph: Graph, firstBackward: number): void => {
  const halfOf = new Map<Tensor, Tensor>();
  for (const node of graph.nodes.slice(0, firstBackward)) {
    const x = node.inputs[0];
    if (node.op === "Cast" && x?.dtype === "float16" && x.constValue) halfOf.set(node.outputs[0]!, x);
  }
  if (halfOf.size === 0) return;
  for (const node of graph.nodes.splice(firstBackward)) {
    const inputs = node.inputs.map((t) => (t && halfOf.has(t) ? cast(halfOf.get(t)!, "float32") : t));
    graph.nodes.push({ ...node, inputs });
  }
};
