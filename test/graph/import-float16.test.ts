/**
 * fp16 weights kept fp16 (loadOnnx's float16: "keep", generator.onnx.float16Weights): the tiny SD3 transformer
 * fixture with its fp32 initialisers rounded to fp16, imported with its weights widened to fp32 and with them
 * kept as fp16 initialisers cast where used. Both compute the same fp32 arithmetic, so outputs, losses and LoRA
 * gradients are bit-identical, while the kept graph holds about half the initialiser bytes; against the original
 * fp32 model the difference is fp16's rounding of the weights.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { importInto, type OnnxModel, parseOnnx } from "../../src/graph/import.ts";
import { estimateMemory } from "../../src/graph/memory.ts";
import { onnxModel } from "../../src/graph/serialize.ts";
import { initParams, isAdapterParam } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { compileTrainStep, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { fixturePath, halfModelBytes, maxAbsDiff, recorded, recordedInputs } from "./onnx-fixtures.ts";

const source = fixturePath("sd3_transformer.onnx");
const feeds = recordedInputs(recorded("sd3_transformer"));
const lora = { rank: 2, alpha: 3, targets: ["attn.to_q", "attn.to_k", "ff.net.0.proj", "norm1.linear"] };

/** A LoRA train step (loss = mean of the output squared) through `model`, on the recorded inputs. */
const trainStep = async (model: OnnxModel, name: string) => {
  const train = compileTrainStep(name, (scope, graph) => {
    const bind = Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, graph.input(n, "float32", t.shape)]));
    const out = importInto(graph, model, { bind, scope }).outputs.out_hidden_states!;
    return { out, loss: graph.op("ReduceMean", [graph.op("Mul", [out, out])[0]], { keepdims: 0 })[0]! };
  }, isAdapterParam, { lora });
  const params = initParams(train.params, 8);
  const rng = makeRng(4);
  for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * rng.normal();
  // Fusions off, as the pipeline runs an imported generator's graphs: the Casts run every step.
  const session = await LocalSession.create(name, train.bytes, { providers: ["cpu"], intraOpThreads: 1, spinning: false, graphOptimization: "disabled" });
  const result = await runTrainStep(session, train, params, feeds);
  await session.release();
  return { out: Array.from(result.outputs.out!.data as Float32Array), loss: result.loss, grads: result.grads.map((g) => [g.name, Array.from(g.data)] as const), memory: estimateMemory(train.graph), graph: train.graph };
};

describe("fp16 weights kept fp16", () => {
  it("compute bit-identically to the same weights widened, with half the initialiser bytes", async () => {
    const bytes = halfModelBytes(source);
    const widened = parseOnnx(bytes, source, dirname(source));
    const kept = parseOnnx(bytes, source, dirname(source), { float16: "keep" });
    expect([...kept.initializers.values()].filter((c) => c.dtype === "float16").length).toBeGreaterThan(50);
    const a = await trainStep(widened, "widened");
    const b = await trainStep(kept, "kept");
    expect(b.out).toEqual(a.out);
    expect(b.loss).toBe(a.loss);
    expect(b.grads).toEqual(a.grads);
    // Initialisers: the fp16 weights at 2 bytes; shapes, folded tables and other constants stay as they were.
    expect(b.memory.weightBytes).toBeLessThan(0.6 * a.memory.weightBytes);
    expect(b.memory.weightBytes).toBeGreaterThan(0.45 * a.memory.weightBytes);
    // Backward reads casts of its own (autodiff/recast-half-weights.ts), so no fp32 copy lives from the forward
    // pass to the backward one: the peak holds at most a node's inputs' worth of copies more than the widened graph.
    const largest = Math.max(...[...kept.initializers.values()].filter((c) => c.dtype === "float16").map((c) => 4 * c.values.length));
    expect(b.memory.peakActivationBytes - a.memory.peakActivationBytes).toBeLessThanOrEqual(2 * largest);
    expect(b.memory.weightBytes + b.memory.peakActivationBytes).toBeLessThan(a.memory.weightBytes + a.memory.peakActivationBytes);

    // The file lists the fp16 weights' Casts first: ONNX Runtime's depth-first order then runs each just before its
    // consumer (graph/serialize.ts); the widened graph has none and keeps the builder's order.
    const halfNames = new Set(b.graph.initializers.filter((t) => t.dtype === "float16").map((t) => t.name));
    const written = onnxModel(b.graph).graph!.node!;
    const isHalfCast = (n: (typeof written)[number]) => n.opType === "Cast" && halfNames.has(n.input![0]!);
    const casts = written.filter(isHalfCast).length;
    expect(casts).toBeGreaterThan(halfNames.size); // the forward pass's casts plus the backward pass's own
    expect(written.slice(0, casts).every(isHalfCast)).toBe(true);
    expect(onnxModel(a.graph).graph!.node!.map((n) => n.name)).toEqual(a.graph.nodes.map((n) => n.name));

    // Against the fp32 original: the weights' fp16 rounding (relative 2^-11) shows in the output.
    const original = await trainStep(parseOnnx(readFileSync(source), source, dirname(source)), "fp32");
    const scale = Math.max(...original.out.map(Math.abs));
    const error = maxAbsDiff(b.out, original.out);
    expect(error).toBeGreaterThan(0);
    expect(error / scale).toBeLessThan(5e-3); // observed 4.7e-4 (max abs 1.45e-3 on outputs up to 3.1)
  });
});
