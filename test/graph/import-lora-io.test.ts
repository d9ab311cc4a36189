/**
 * Imported models on disk: external data errors, training graphs that keep frozen weights as
 * initialisers (external data beside them when big), LoRA factors in peft naming, and the merge of a
 * LoRA file into the source model (`advgrpo export`).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeGraph } from "../../src/graph/external-data.ts";
import { Graph } from "../../src/graph/graph.ts";
import { type AdapterSite, importInto, loadOnnx } from "../../src/graph/import.ts";
import { LORA_METADATA_KEY, mergeLoraIntoOnnx, peftLoraFile } from "../../src/graph/lora-io.ts";
import { encodeModel } from "../../src/graph/onnx-proto.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { encodeSafetensors } from "../../src/io/safetensors.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { initParams, isAdapterParam, ParamScope } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { compileForward, compileTrainStep, paramFeeds, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { fixturePath, maxAbsDiff, recorded, recordedInputs } from "./onnx-fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "advgrpo-import-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const r = recorded("sd3_transformer");
const feeds = recordedInputs(r);

/** A private copy of the external-data fixture (model + its 3 data files) in its own folder, for a test to damage. */
const externalCopy = (folder: string): string => {
  const target = join(dir, folder);
  mkdirSync(target);
  for (const f of ["sd3_transformer_external.onnx", ...[0, 1, 2].map((k) => `sd3_transformer_external.onnx.data${k}`)]) copyFileSync(fixturePath(f), join(target, f));
  return join(target, "sd3_transformer_external.onnx");
};

describe("external data", () => {
  it("a missing external data file is an error naming the model, the tensor and the file", () => {
    const path = externalCopy("missing");
    rmSync(`${path}.data1`);
    expect(() => loadOnnx(path)).toThrow(/cannot import ONNX model '.*missing\/sd3_transformer_external\.onnx': initialiser '.*': cannot open external data file '.*missing\/sd3_transformer_external\.onnx\.data1'/);
  });

  it("a truncated external data file is an error naming the tensor, the file and the bytes it needs", () => {
    const path = externalCopy("truncated");
    truncateSync(`${path}.data2`, statSync(`${path}.data2`).size - 100);
    expect(() => loadOnnx(path)).toThrow(/initialiser '.*': external data file '.*truncated\/sd3_transformer_external\.onnx\.data2' has \d+ bytes but the tensor needs bytes \d+\.\.\d+ \(truncated file\?\)/);
  });
});

const lora = { rank: 2, alpha: 3, targets: ["attn.to_q", "attn.to_k", "ff.net.0.proj", "norm1.linear"] };

describe("training graphs from an imported model", () => {
  it("frozen weights are initialisers (never inputs); only LoRA factors and data are fed; external data gives the same losses", async () => {
    const model = loadOnnx(fixturePath("sd3_transformer_external.onnx"));
    const train = compileTrainStep("ext-train", (scope, graph) => {
      const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
      const out = importInto(graph, model, { bind, scope }).outputs.out_hidden_states!;
      return { loss: graph.op("ReduceSum", [graph.op("Mul", [out, out])[0]], { keepdims: 0 })[0]! };
    }, isAdapterParam, { lora });
    expect(train.params.every((p) => isAdapterParam(p.name))).toBe(true);
    expect(train.dataInputs.map((d) => d.name).sort()).toEqual(Object.keys(feeds).sort());

    // The same graph written embedded and with external data (as a > 2 GB one would be) computes bit-identically.
    const graph = new Graph("ext");
    const scope = new ParamScope(graph, { lora });
    const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
    graph.output(importInto(graph, model, { bind, scope }).outputs.out_hidden_states!, "out");
    const params = initParams(scope.specs, 4);
    const rng = makeRng(2);
    for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * rng.normal();
    const embedded = writeGraph(graph, join(dir, "embedded.onnx"), { external: "never" });
    const external = writeGraph(graph, join(dir, "external.onnx"), { external: "always" });
    expect(external.dataBytes).toBeGreaterThan(0.9 * embedded.modelBytes - external.modelBytes);
    const run = async (path: string) => {
      const s = await LocalSession.createFromFile(path, path);
      const out = await s.run({ ...paramFeeds(params), ...feeds });
      await s.release();
      return Array.from(out.out!.data as Float32Array);
    };
    expect(await run(external.modelPath)).toEqual(await run(embedded.modelPath));
  });
});

describe("graphs past protobuf's 2 GB", () => {
  it("toOnnx refuses them with a pointer to writeGraph (the zero buffer is never touched, so no RAM is used)", () => {
    const g = new Graph("huge");
    const zeros = new Float32Array(new ArrayBuffer(2 ** 30));
    const x = g.input("x", "float32", [zeros.length]);
    g.output(g.op("Add", [g.op("Add", [x, g.constant(zeros, "float32", [zeros.length], "w0")])[0], g.constant(zeros, "float32", [zeros.length], "w1")])[0]!, "y");
    expect(() => toOnnx(g)).toThrow(/graph 'huge' holds 2147483648 bytes of initialisers, past what one protobuf can hold \(2 GB\); write it with writeGraph/);
  });
});

describe("the external-data fixture trains as the embedded one", () => {
  it("LoRA train steps give bit-identical losses and gradients", async () => {
    const step = async (file: string) => {
      const model = loadOnnx(fixturePath(file));
      const train = compileTrainStep(file, (scope, graph) => {
        const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
        const out = importInto(graph, model, { bind, scope }).outputs.out_hidden_states!;
        return { loss: graph.op("ReduceMean", [graph.op("Mul", [out, out])[0]], { keepdims: 0 })[0]! };
      }, isAdapterParam, { lora });
      const params = initParams(train.params, 8);
      const rng = makeRng(4);
      for (const p of params) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.2 * rng.normal();
      const session = await LocalSession.create(file, train.bytes);
      const result = await runTrainStep(session, train, params, feeds);
      await session.release();
      return { loss: result.loss, grads: result.grads.map((g) => [g.name, Array.from(g.data)]) };
    };
    const embedded = await step("sd3_transformer.onnx");
    const external = await step("sd3_transformer_external.onnx");
    expect(external.loss).toBe(embedded.loss);
    expect(external.grads).toEqual(embedded.grads);
  });
});

describe("LoRA factors in peft naming, merged into the source model", () => {
  it("the peft file has diffusers' keys and shapes; merging it into the ONNX file reproduces the adapted graph", async () => {
    let adapters: readonly AdapterSite[] = [];
    const forward = compileForward("adapted", (scope, graph) => {
      const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
      // Under a child scope, as a pipeline nests the transformer: parameter names gain its prefix, file keys do not.
      const imported = importInto(graph, loadOnnx(fixturePath("sd3_transformer.onnx")), { bind, scope: scope.child("policy") });
      adapters = imported.adapters;
      return { out: imported.outputs.out_hidden_states! };
    }, { lora });
    expect(forward.params.map((p) => p.name)).toContain("policy.transformer_blocks.0.attn.to_q.lora_A");
    const params = initParams(forward.params, 6);
    const rng = makeRng(3);
    for (const p of params) if (p.name.endsWith("lora_B")) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.3 * rng.normal();
    const session = await LocalSession.create("adapted", forward.bytes);
    const adapted = (await session.run({ ...paramFeeds(params), ...feeds })).out!.data as Float32Array;
    await session.release();
    expect(maxAbsDiff(adapted, r.tensors.get("output.out_hidden_states")!.data)).toBeGreaterThan(1e-2);

    const file = peftLoraFile(adapters, params, lora);
    const names = file.tensors.map((t) => t.name);
    expect(names).toContain("transformer.transformer_blocks.0.attn.to_q.lora_A.weight");
    expect(names).toContain("transformer.transformer_blocks.1.norm1.linear.lora_B.weight");
    const qA = file.tensors.find((t) => t.name === "transformer.transformer_blocks.0.attn.to_q.lora_A.weight")!;
    const ffB = file.tensors.find((t) => t.name === "transformer.transformer_blocks.0.ff.net.0.proj.lora_B.weight")!;
    expect([qA.shape, ffB.shape]).toEqual([[2, 32], [128, 2]]);
    expect(JSON.parse(file.metadata[LORA_METADATA_KEY]!)).toMatchObject({ "transformer.r": 2, "transformer.lora_alpha": 2 });
    const loraPath = join(dir, "pytorch_lora_weights.safetensors");
    writeFileSync(loraPath, encodeSafetensors(file));

    // Merge into the external-data copy: reads external weights, writes a self-contained file.
    const src = externalCopy("merge");
    const merged = mergeLoraIntoOnnx(src, loraPath, join(dir, "merged.onnx"));
    expect(merged.merged).toBe(adapters.length);
    const mergedSession = await LocalSession.createFromFile("merged", merged.modelPath);
    const out = (await mergedSession.run(feeds)).out_hidden_states!.data as Float32Array;
    await mergedSession.release();
    const error = maxAbsDiff(out, adapted);
    console.log(`[lora-io] merged export vs adapted graph: max abs error ${error.toExponential(2)}`);
    expect(error).toBeLessThan(1e-4);
  });
});

describe("weights fed through a Transpose (as torch's dynamo exporter writes nn.Linear)", () => {
  it("LoRA attaches by the transposed initialiser's name, small (folded) or big, and the merge reproduces the adapted graph", async () => {
    const rng = makeRng(12);
    const tensor = (name: string, dims: number[]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(Float32Array.from({ length: dims[0]! * dims[1]! }, () => 0.1 * rng.normal()).buffer) });
    const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const bytes = encodeModel({
      irVersion: 9,
      opsetImport: [{ domain: "", version: 18 }],
      graph: {
        name: "dynamo-like",
        input: [info("x", [2, 256])],
        output: [info("small", [2, 8]), info("big", [2, 300])],
        initializer: [tensor("blk.to_q.weight", [8, 256]), tensor("blk.ff.weight", [300, 256])],
        node: [
          { opType: "Transpose", name: "node_t0", input: ["blk.to_q.weight"], output: ["t0"], attribute: [{ name: "perm", type: 7, ints: [1, 0] }] },
          { opType: "MatMul", name: "node_linear", input: ["x", "t0"], output: ["q"] },
          { opType: "CastLike", name: "node_castlike", input: ["q", "x"], output: ["small"] },
          { opType: "Transpose", name: "node_t1", input: ["blk.ff.weight"], output: ["t1"], attribute: [{ name: "perm", type: 7, ints: [1, 0] }] },
          { opType: "MatMul", name: "node_linear_1", input: ["x", "t1"], output: ["big"] },
        ],
      },
    });
    const modelPath = join(dir, "dynamo-like.onnx");
    writeFileSync(modelPath, bytes);
    const x = f32([2, 256], Float32Array.from({ length: 512 }, () => rng.normal()));
    const dynamoLora = { rank: 2, alpha: 2, targets: ["blk.to_q", "blk.ff"] };
    let adapters: readonly AdapterSite[] = [];
    const forward = compileForward("dynamo-like", (scope, graph) => {
      const imported = importInto(graph, loadOnnx(modelPath), { bind: { x: graph.input("x", "float32", [2, 256]) }, scope });
      adapters = imported.adapters;
      return imported.outputs;
    }, { lora: dynamoLora });
    expect(adapters.map((a) => [a.module, a.layout, a.inFeatures, a.outFeatures])).toEqual([["blk.to_q", "out_in", 256, 8], ["blk.ff", "out_in", 256, 300]]);
    const params = initParams(forward.params, 1);
    for (const p of params) if (p.name.endsWith("lora_B")) for (let i = 0; i < p.data.length; i++) p.data[i] = rng.normal();
    const session = await LocalSession.create("dynamo-like", forward.bytes);
    const adapted = await session.run({ ...paramFeeds(params), x });
    await session.release();
    const loraPath = join(dir, "dynamo-lora.safetensors");
    writeFileSync(loraPath, encodeSafetensors(peftLoraFile(adapters, params, dynamoLora)));
    const merged = mergeLoraIntoOnnx(modelPath, loraPath, join(dir, "dynamo-merged.onnx"));
    const mergedSession = await LocalSession.createFromFile("merged", merged.modelPath);
    const out = await mergedSession.run({ x });
    await mergedSession.release();
    for (const name of ["small", "big"]) expect(maxAbsDiff(out[name]!.data as Float32Array, adapted[name]!.data as Float32Array)).toBeLessThan(1e-5);
  });
});
