/**
 * The generator as the flow sampler's velocity callback: classifier-free guidance v = v_u + w (v_c - v_u), the
 * conditional and unconditional halves evaluated as one batch of 2B (the export's batch must be 2B, or dynamic).
 */
import type { VelocityFn } from "../../flow/sampler.ts";
import { hostTensor, type HostTensor } from "../../runtime/tensors.ts";
import type { TextEncoding } from "../text/port.ts";
import type { GeneratorModel } from "./contract.ts";

const concatBatch = (a: HostTensor, b: HostTensor): HostTensor => {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data as Float32Array);
  data.set(b.data as Float32Array, a.data.length);
  return hostTensor("float32", [a.shape[0]! + b.shape[0]!, ...a.shape.slice(1)], data);
};

const concatText = (a: TextEncoding, b: TextEncoding): TextEncoding => ({
  ...(a.pooled && b.pooled ? { pooled: concatBatch(a.pooled, b.pooled) } : {}),
  ...(a.tokens && b.tokens ? { tokens: concatBatch(a.tokens, b.tokens) } : {}),
});

/**
 * `cond` holds the prompts' encodings, `uncond` the empty prompt's for the same batch size. Guidance 1 is the plain
 * conditional velocity (one batch of B, no unconditional pass).
 */
export const guidedVelocity = (generator: GeneratorModel, cond: TextEncoding, uncond: TextEncoding, guidance: number): VelocityFn => {
  const [c, h, w] = generator.signature.latentShape as [number, number, number];
  if (guidance === 1) return (x, sigma) => generator.velocity(hostTensor("float32", [sigma.length, c, h, w], x), sigma, cond);
  const both = concatText(cond, uncond);
  return async (x, sigma) => {
    const batch = sigma.length;
    const doubled = new Float32Array(2 * x.length);
    doubled.set(x);
    doubled.set(x, x.length);
    const sigmas = new Float32Array(2 * batch);
    sigmas.set(sigma);
    sigmas.set(sigma, batch);
    const v = await generator.velocity(hostTensor("float32", [2 * batch, c, h, w], doubled), sigmas, both);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = v[x.length + i]! + guidance * (v[i]! - v[x.length + i]!);
    return out;
  };
};
