import { isFloat, typedArrayFrom } from "../graph/dtype.ts";
import { NoGradientRuleError } from "../graph/errors.ts";
import { type Graph, type Node, numel, type Tensor } from "../graph/graph.ts";
import { add } from "../graph/ops.ts";
import { rules } from "./rules/index.ts";
import { isStopped } from "./stop-gradient.ts";

/** Ops whose outputs carry no gradient (comparisons, rounding): a path through them contributes zero. */
const nonDifferentiable = new Set(["Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "And", "Or", "Not", "Sign", "Floor"]);

const filledLike = (t: Tensor, value: number, name: string): Tensor =>
  t.graph.constant(typedArrayFrom(t.dtype, new Array<number>(numel(t.shape)).fill(value)), t.dtype, t.shape, name);

/** Nodes that lie on some path from a `wrt` tensor to `loss`, in graph order. */
const nodesOnPath = (graph: Graph, loss: Tensor, wrt: readonly Tensor[]): { path: Node[]; dependsOnWrt: Set<Tensor> } => {
  const dependsOnWrt = new Set<Tensor>(wrt);
  for (const node of graph.nodes) {
    if (nonDifferentiable.has(node.op) || node.outputs.some(isStopped)) continue;
    if (node.inputs.some((t) => t && dependsOnWrt.has(t))) for (const out of node.outputs) if (isFloat(out.dtype)) dependsOnWrt.add(out);
  }
  const feedsLoss = new Set<Tensor>([loss]);
  const path: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!node.outputs.some((t) => feedsLoss.has(t) && dependsOnWrt.has(t))) continue;
    path.push(node);
    for (const t of node.inputs) if (t) feedsLoss.add(t);
  }
  return { path: path.reverse(), dependsOnWrt };
};

/**
 * Reverse-mode differentiation at graph-build time: appends backward nodes (standard ONNX ops only)
 * to the graph and returns d(loss)/d(wrt[i]). `seed` is the gradient of loss itself (default ones),
 * which lets a caller differentiate a non-scalar output against a chosen cotangent.
 */
export const gradients = (loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] => {
  const graph = loss.graph;
  const { path, dependsOnWrt } = nodesOnPath(graph, loss, wrt);
  const grads = new Map<Tensor, Tensor>([[loss, seed ?? filledLike(loss, 1, "ones")]]);
  const accumulate = (t: Tensor, g: Tensor) => {
    const existing = grads.get(t);
    grads.set(t, existing ? add(existing, g) : g);
  };
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i]!;
    const outGrads = node.outputs.map((t) => grads.get(t));
    if (outGrads.every((g) => !g)) continue;
    const rule = rules[node.op] ?? (() => {
      throw new NoGradientRuleError({ op: node.op, node: node.name, detail: "it lies between the differentiated inputs and the loss" });
    })();
    const needs = node.inputs.map((t) => !!t && dependsOnWrt.has(t) && isFloat(t.dtype));
    const inputGrads = rule({ node, grads: outGrads, needs });
    node.inputs.forEach((t, k) => {
      const g = inputGrads[k];
      if (t && g && needs[k]) accumulate(t, g);
    });
  }
  return wrt.map((t) => grads.get(t) ?? filledLike(t, 0, "zero_grad"));
};
