import { NonFiniteGradientError, OptimizerConfigError } from "./errors.ts";
import type { ParamSet, ParamTensor } from "./param-set.ts";

const throwAtFirstNonFinite = (tensor: ParamTensor): never => {
  const index = tensor.data.findIndex((value) => !Number.isFinite(value));
  throw new NonFiniteGradientError({ name: tensor.name, index, value: tensor.data[index] });
};

/** Throws a NonFiniteGradientError naming the first tensor and flat index that holds NaN or +-Infinity. */
export const assertFiniteGradients = (grads: ParamSet): void => {
  for (const tensor of grads) {
    const data = tensor.data;
    // x * 0 is 0 for every finite x and NaN otherwise, so NaN-propagating sums check the whole tensor; four
    // independent sums run four times faster than one, whose every addition waits for the previous one.
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    const quads = data.length & ~3;
    for (let i = 0; i < quads; i += 4) {
      a += data[i]! * 0;
      b += data[i + 1]! * 0;
      c += data[i + 2]! * 0;
      d += data[i + 3]! * 0;
    }
    for (let i = quads; i < data.length; i++) a += data[i]! * 0;
    if (a + b + c + d !== 0) throwAtFirstNonFinite(tensor);
  }
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
