import { adamW } from "./adam.ts";
import { paramTensor } from "./param-set.ts";

/**
 * Milliseconds per in-place AdamW step over `paramCount` fp32 parameters (split into 1M-element tensors like a
 * model's layers), averaged over `steps` steps after one warm-up step. Inputs are deterministic, not random.
 */
export const benchAdamW = (paramCount: number, steps = 5): number => {
  const chunk = 1 << 20;
  const sizes = Array.from({ length: Math.ceil(paramCount / chunk) }, (_, i) => Math.min(chunk, paramCount - i * chunk));
  const fill = (size: number, scale: number): Float32Array => Float32Array.from({ length: size }, (_, i) => scale * Math.sin(i));
  const params = sizes.map((size, i) => paramTensor(`w${i}`, [size], fill(size, 0.1)));
  const grads = sizes.map((size, i) => paramTensor(`w${i}`, [size], fill(size, 0.01)));
  const optimizer = adamW(params, { lr: 1e-4, weightDecay: 1e-4 });
  optimizer.step(grads);
  const start = performance.now();
  for (let s = 0; s < steps; s++) optimizer.step(grads);
  return (performance.now() - start) / steps;
};
