import type { Graph, Node } from "./graph.ts";
import { numel } from "./graph.ts";

/**
 * Multiply-add FLOPs (2 per MAC) of the matrix ops in a graph: MatMul, FusedMatMul, Gemm, Conv, ConvTranspose.
 * Elementwise ops are left out on purpose: achieved GFLOP/s then compares directly with a plain MatMul.
 */
const nodeFlops = (node: Node): number => {
  const [a, b] = [node.inputs[0]!, node.inputs[1]!];
  const out = node.outputs[0]!;
  switch (node.op) {
    case "MatMul":
      return 2 * numel(out.shape) * a.shape[a.shape.length - 1]!;
    case "FusedMatMul":
      return 2 * numel(out.shape) * a.shape[a.shape.length - (node.attrs.transA === 1 ? 2 : 1)]!;
    case "Gemm":
      return 2 * numel(out.shape) * (node.attrs.transA === 1 ? a.shape[0]! : a.shape[1]!);
    case "Conv":
      return 2 * numel(out.shape) * numel(b.shape.slice(1));
    case "ConvTranspose":
      return 2 * numel(a.shape) * numel(b.shape.slice(1));
    default:
      return 0;
  }
};

export const graphFlops = (graph: Graph): number => graph.nodes.reduce((sum, node) => sum + nodeFlops(node), 0);
