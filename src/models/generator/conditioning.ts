/** Noise-level and text conditioning shared by the generator's blocks. */
import type { Tensor } from "../../graph/graph.ts";
import { add, concat, cos, mul, reshape, silu, sin } from "../../graph/ops.ts";
import { linear } from "../../nn/layers.ts";
import type { ParamScope } from "../../nn/params.ts";

/**
 * Sinusoidal features of sigma * 1000 (the timestep scale of SD3-style models), [B] -> [B, dims]: half sines, half
 * cosines at frequencies geometrically spaced from 1 to 1/10000, as in DDPM/DiT.
 */
const sigmaFeatures = (sigma: Tensor, dims: number): Tensor => {
  const half = dims / 2;
  const frequencies = Float32Array.from({ length: half }, (_, i) => 1000 * Math.exp((-Math.log(10000) * i) / half));
  const phase = mul(reshape(sigma, [sigma.shape[0]!, 1]), sigma.graph.constant(frequencies, "float32", [1, half], "sigma_frequencies"));
  return concat([cos(phase), sin(phase)], 1);
};

/** One conditioning vector per sample: MLP(sigma features) + MLP(pooled text), then SiLU, as DiT's adaLN input. */
export const conditioningVector = (scope: ParamScope, sigma: Tensor, pooledText: Tensor, width: number): Tensor => {
  const time = linear(scope.child("time.fc2"), silu(linear(scope.child("time.fc1"), sigmaFeatures(sigma, width), width)), width);
  const text = linear(scope.child("text.fc2"), silu(linear(scope.child("text.fc1"), pooledText, width)), width);
  return silu(add(time, text));
};
