import { NonFiniteGradientError, OptimizerConfigError } from "./errors.ts";
import { allFinite } from "./kernels/wasm.ts";
import type { ParamSet, ParamTensor } from "./param-set.ts";

const throwAtFirstNonFinite = (tensor: ParamTensor): never => {
  const index = tensor.data.findIndex((value) => !Number.isFinite(value));
  throw new NonFiniteGradientError({ name: tensor.name, index, value: tensor.data[index] });
};

/** Throws a NonFiniteGradientError naming the first tensor and flat index that holds NaN or +-Infinity. */
export const assertFiniteGradients = (grads: ParamSet): void => {
  for (const tensor of grads) if (!allFinite(tensor.data)) throwAtFirstNonFinite(tensor);
};

/** Global L2 norm over all gradients, accumulated in float64; non-finite values are an error, not a NaN norm. */
export const gradNorm = (grads: ParamSet): number => {
  let total = 0;
  for (const tensor of grads) {
    const data = tensor.data;
    let sum = 0;
    for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
    // A float32 squared stays far below the float64 range, so a non-finite sum can only come from a non-finite input.
    if (!Number.isFinite(sum)) throwAtFirstNonFinite(tensor);
    total += sum;
  }
  return Math.sqrt(total);
};

/**
 * Scales all gradients in place so their global L2 norm is at most `maxNorm` and returns the norm before clipping.
 * Same rule as torch.nn.utils.clip_grad_norm_: factor maxNorm / (norm + 1e-6), applied only when below 1.
 */
export const clipGradNorm = (grads: ParamSet, maxNorm: number): number => {
  if (!(maxNorm > 0)) throw new OptimizerConfigError({ field: "maxGradNorm", value: maxNorm, expected: "a positive number" });
  const norm = gradNorm(grads);
  const factor = maxNorm / (norm + 1e-6);
  if (factor < 1) {
    for (const tensor of grads) {
      const data = tensor.data;
      for (let i = 0; i < data.length; i++) data[i] *= factor;
    }
  }
  return norm;
};
