/**
 * stop_gradient(x): x in the forward pass, a constant to autodiff. Losses that scale a term by a
 * statistic of the model's own output (DiffusionNFT's adaptive weight) need the statistic held fixed,
 * or the gradient would also push the statistic. ONNX has no such op: it is an Identity node that
 * `gradients` treats as a path end.
 */
import type { Tensor } from "../graph/graph.ts";
import { identity } from "../graph/ops.ts";

const stopped = new WeakSet<Tensor>();

export const stopGradient = (x: Tensor): Tensor => {
  const out = identity(x);
  stopped.add(out);
  return out;
};

export const isStopped = (t: Tensor): boolean => stopped.has(t);
