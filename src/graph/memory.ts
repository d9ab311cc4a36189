/**
 * Peak activation memory of a graph from its own tensor sizes: nodes run in graph order, a value is
 * held from the node that makes it to its last reader (graph outputs to the end), and the peak of the
 * bytes held is reported. Weights (initialisers) and fed inputs are counted apart. This is what ORT's
 * sequential memory planner needs without in-place reuse or fusion, so it bounds the real figure from
 * above; for a training graph it includes every forward activation the backward pass keeps.
 */
import type { DType } from "./dtype.ts";
import { type Graph, numel, type Tensor } from "./graph.ts";

const BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, int64: 8, int32: 4, bool: 1, float16: 2 };

const tensorBytes = (t: Tensor): number => numel(t.shape) * BYTES[t.dtype];

export interface MemoryEstimate {
  /** Initialisers: frozen weights and constants. */
  readonly weightBytes: number;
  /** Graph inputs fed per run (data, trainable parameters). */
  readonly inputBytes: number;
  readonly peakActivationBytes: number;
  /** The node whose outputs brought the peak. */
  readonly peakNode: string;
}

export const estimateMemory = (graph: Graph): MemoryEstimate => {
  const external = new Set<Tensor>([...graph.initializers, ...graph.inputs]);
  const lastUse = new Map<Tensor, number>();
  graph.nodes.forEach((node, i) => {
    for (const t of node.inputs) if (t && !external.has(t)) lastUse.set(t, i);
  });
  for (const t of graph.outputs) lastUse.set(t, Infinity);
  let live = 0;
  let peak = 0;
  let peakNode = "";
  graph.nodes.forEach((node, i) => {
    for (const t of node.outputs) live += tensorBytes(t);
    if (live > peak) {
      peak = live;
      peakNode = node.name;
    }
    for (const t of node.outputs) if (!lastUse.has(t)) live -= tensorBytes(t);
    for (const t of new Set(node.inputs)) if (t && lastUse.get(t) === i) live -= tensorBytes(t);
  });
  const sum = (ts: readonly Tensor[]) => ts.reduce((n, t) => n + tensorBytes(t), 0);
  return { weightBytes: sum(graph.initializers), inputBytes: sum(graph.inputs), peakActivationBytes: peak, peakNode };
};
