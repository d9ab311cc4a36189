/**
 * Finite-difference checking of the engine's backward graphs, run by ORT.
 * loss = sum(f(inputs) * r) with a fixed random cotangent r, so every output element's gradient is exercised.
 * float64 graphs use eps 1e-6 and tolerance ~1e-6. float32 graphs (ops ORT only implements in fp32) use
 * central differences with eps 1e-2: truncation error O(eps^2 * f''') ~ 1e-4 and rounding error
 * ~ 6e-8 |L| / eps, so a 1e-2 relative + 2e-3 absolute tolerance separates a correct rule from a wrong one.
 */
import { expect } from "vitest";
import { type DType, typedArrayFrom } from "../../src/graph/dtype.ts";
import { Graph, numel, type Tensor } from "../../src/graph/graph.ts";
import { mul, sumAll } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { gradients } from "../../src/autodiff/gradients.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { hostTensor, type HostTensor } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";
import { initParams } from "../../src/nn/params.ts";
import { compileForward, compileTrainStep, type ModelBuilder, paramFeeds, runTrainStep } from "../../src/train/train-graph.ts";
import type { Feeds } from "../../src/runtime/tensors.ts";

export interface InputSpec {
  readonly shape: readonly number[];
  /** Values drawn as |N(0,1)| + 0.5 for ops defined on positive numbers only (log, sqrt, pow). */
  readonly positive?: boolean;
  /** Fixed values (e.g. integer indices); such inputs are not differentiated. */
  readonly values?: readonly number[];
  readonly dtype?: DType;
}

export interface GradCase {
  readonly dtype?: "float32" | "float64";
  readonly inputs: Readonly<Record<string, InputSpec>>;
  readonly build: (t: Readonly<Record<string, Tensor>>) => Tensor;
  /** Inputs to differentiate; default all float inputs without fixed values. */
  readonly wrt?: readonly string[];
  readonly seed?: number;
}

export interface GradReport {
  readonly maxAbsError: number;
  readonly checked: number;
}

const tolerances = { float64: { eps: 1e-6, atol: 1e-6, rtol: 1e-5 }, float32: { eps: 1e-2, atol: 2e-3, rtol: 1e-2 } } as const;

export const gradCheck = async (c: GradCase): Promise<GradReport> => {
  const dtype = c.dtype ?? "float64";
  const rng = makeRng(c.seed ?? 7);
  const g = new Graph("gradcheck");
  const tensors: Record<string, Tensor> = {};
  const feeds: Record<string, HostTensor> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    const inputType = spec.dtype ?? dtype;
    tensors[name] = g.input(name, inputType, spec.shape);
    const values = spec.values ?? Array.from({ length: numel(spec.shape) }, () => (spec.positive ? Math.abs(rng.normal()) + 0.5 : rng.normal()));
    feeds[name] = hostTensor(inputType, spec.shape, typedArrayFrom(inputType, values));
  }
  const out = c.build(tensors);
  const cotangent = g.constant(typedArrayFrom(dtype, Array.from({ length: numel(out.shape) }, () => rng.normal())), dtype, out.shape, "cotangent");
  const loss = g.output(sumAll(mul(out, cotangent)), "loss");
  const forward = await LocalSession.create("gradcheck-forward", toOnnx(g));
  const wrt = c.wrt ?? Object.keys(c.inputs).filter((k) => !c.inputs[k]!.values && (c.inputs[k]!.dtype ?? dtype) === dtype);
  const grads = gradients(loss, wrt.map((k) => tensors[k]!));
  grads.forEach((t, i) => g.output(t, `grad_${wrt[i]}`));
  const full = await LocalSession.create("gradcheck-backward", toOnnx(g));
  const analytic = await full.run(feeds);
  const { eps, atol, rtol } = tolerances[dtype];
  const lossAt = async (name: string, index: number, delta: number) => {
    const data = feeds[name]!.data as Float32Array | Float64Array;
    const saved = data[index]!;
    data[index] = saved + delta;
    const value = Number((await forward.run(feeds)).loss!.data[0]);
    data[index] = saved;
    return value;
  };
  let maxAbsError = 0;
  let checked = 0;
  for (const name of wrt) {
    const got = analytic[`grad_${name}`]!.data as Float32Array | Float64Array;
    expect(analytic[`grad_${name}`]!.shape).toEqual(c.inputs[name]!.shape);
    for (let i = 0; i < got.length; i++) {
      const numeric = ((await lossAt(name, i, eps)) - (await lossAt(name, i, -eps))) / (2 * eps);
      const error = Math.abs(got[i]! - numeric);
      maxAbsError = Math.max(maxAbsError, error);
      checked++;
      if (error > atol + rtol * Math.abs(numeric)) {
        throw new Error(`d loss / d ${name}[${i}]: backward graph gives ${got[i]}, finite differences ${numeric} (${dtype}, eps ${eps})`);
      }
    }
  }
  await Promise.all([forward.release(), full.release()]);
  return { maxAbsError, checked };
};

export interface ModelCheckOptions {
  /** Random elements checked per parameter tensor (whole models are too big to check every weight). */
  readonly samplesPerParam: number;
  readonly seed?: number;
}

/**
 * End-to-end check of a whole fp32 model: the compiled training graph's gradients against central
 * differences of the compiled forward graph, on randomly chosen elements of every parameter.
 */
export const modelGradCheck = async (build: ModelBuilder, data: Feeds, options: ModelCheckOptions): Promise<GradReport> => {
  const forwardGraph = compileForward("model-forward", build);
  const trainGraph = compileTrainStep("model-train", build);
  const params = initParams(trainGraph.params, options.seed ?? 3);
  const forward = await LocalSession.create(forwardGraph.name, forwardGraph.bytes);
  const train = await LocalSession.create(trainGraph.name, trainGraph.bytes);
  const { grads } = await runTrainStep(train, trainGraph, params, data);
  const lossAt = async () => Number((await forward.run({ ...paramFeeds(params), ...data }, ["loss"])).loss!.data[0]);
  const rng = makeRng(options.seed ?? 3);
  const eps = 3e-3;
  let maxAbsError = 0;
  let checked = 0;
  for (const [k, p] of params.entries()) {
    for (let s = 0; s < Math.min(options.samplesPerParam, p.data.length); s++) {
      const i = rng.int(p.data.length);
      const saved = p.data[i]!;
      p.data[i] = saved + eps;
      const up = await lossAt();
      p.data[i] = saved - eps;
      const down = await lossAt();
      p.data[i] = saved;
      const numeric = (up - down) / (2 * eps);
      const got = grads[k]!.data[i]!;
      const error = Math.abs(got - numeric);
      maxAbsError = Math.max(maxAbsError, error);
      checked++;
      if (error > 3e-3 + 3e-2 * Math.abs(numeric)) throw new Error(`d loss / d ${p.name}[${i}]: backward graph ${got}, finite differences ${numeric}`);
    }
  }
  await Promise.all([forward.release(), train.release()]);
  return { maxAbsError, checked };
};
