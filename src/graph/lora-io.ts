/**
 * LoRA factors of an imported model as files users' tools read, and merged into the model itself.
 *
 * File layout (what diffusers' `pipe.load_lora_weights(dir, weight_name=...)` loads for an SD3/FLUX
 * transformer): safetensors with, per adapted module,
 *   `transformer.<module>.lora_A.weight`  [rank, in]   (peft's lora_A: nn.Linear(in, rank).weight)
 *   `transformer.<module>.lora_B.weight`  [out, rank]  (peft's lora_B: nn.Linear(rank, out).weight)
 * e.g. `transformer.transformer_blocks.0.attn.to_q.lora_A.weight`; sources: diffusers
 * loaders/lora_pipeline.py (SD3LoraLoaderMixin: keys prefixed `transformer.`), peft tuners/lora/layer.py
 * (delta W = lora_B @ lora_A * lora_alpha / r), diffusers loaders/lora_base.py
 * (LORA_ADAPTER_METADATA_KEY = "lora_adapter_metadata", a JSON of `transformer.r`, `transformer.lora_alpha`,
 * `transformer.target_modules`). The alpha/rank scale is folded into lora_B and the metadata says
 * lora_alpha = r, so a loader that reads the metadata and one that ignores it (older diffusers, which
 * then assume alpha = r) both apply exactly the trained update.
 * advgrpo's own parameters are `<module>.lora_A` [in, rank] and `<module>.lora_B` [rank, out] (x A B).
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { decodeSafetensors, type Safetensors, toFloat32 } from "../io/safetensors.ts";
import type { ParamSet } from "../optim/param-set.ts";
import { float16Bits } from "../util/float16.ts";
import { OnnxImportError } from "./errors.ts";
import { type WrittenModel, writeOnnxModel } from "./external-data.ts";
import { type AdapterSite, moduleCandidates } from "./import-lora.ts";
import { parseModel } from "./import.ts";
import type { NodeMessage, TensorMessage } from "./onnx-proto.ts";
import { decodeTensor, elementBytes, ExternalData } from "./onnx-tensors.ts";

export const LORA_METADATA_KEY = "lora_adapter_metadata";
export const LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors";

const transpose = (data: Float32Array, rows: number, cols: number, scale = 1): Float32Array => {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j]! * scale;
  return out;
};

/** The trained adapters in peft/diffusers naming (see the module comment). */
export const peftLoraFile = (adapters: readonly AdapterSite[], params: ParamSet, lora: { rank: number; alpha: number }, component = "transformer"): Safetensors => {
  const byName = new Map(params.map((p) => [p.name, p]));
  const find = (name: string) => byName.get(name) ?? (() => {
    throw new Error(`LoRA export: no parameter '${name}' (parameters: ${[...byName.keys()].slice(0, 6).join(", ")}...)`);
  })();
  const seen = new Set<string>();
  const tensors = adapters.flatMap((site) => {
    if (seen.has(site.module)) return [];
    seen.add(site.module);
    const a = find(site.paramA);
    const b = find(site.paramB);
    return [
      { name: `${component}.${site.module}.lora_A.weight`, dtype: "F32" as const, shape: [lora.rank, site.inFeatures], data: transpose(a.data, site.inFeatures, lora.rank) },
      { name: `${component}.${site.module}.lora_B.weight`, dtype: "F32" as const, shape: [site.outFeatures, lora.rank], data: transpose(b.data, lora.rank, site.outFeatures, lora.alpha / lora.rank) },
    ];
  });
  const config = { [`${component}.r`]: lora.rank, [`${component}.lora_alpha`]: lora.rank, [`${component}.target_modules`]: [...seen].sort() };
  return { tensors, metadata: { [LORA_METADATA_KEY]: JSON.stringify(config), format: "pt" } };
};

/** The module's delta W = (alpha/r) B_peft A_peft as [out, in], read from a peft file for `component`. */
const peftDeltas = (file: string, component: string): Map<string, { out: number; in: number; delta: Float32Array }> => {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new Error(`cannot read LoRA file '${file}' (${(cause as Error).message})`);
  }
  const st = decodeSafetensors(bytes, file);
  const meta = JSON.parse(st.metadata[LORA_METADATA_KEY] ?? "{}") as Record<string, unknown>;
  const tensors = new Map(st.tensors.map((t) => [t.name, t]));
  const deltas = new Map<string, { out: number; in: number; delta: Float32Array }>();
  const prefix = `${component}.`;
  for (const [name, tA] of tensors) {
    if (!name.startsWith(prefix) || !name.endsWith(".lora_A.weight")) continue;
    const module = name.slice(prefix.length, -".lora_A.weight".length);
    const tB = tensors.get(`${prefix}${module}.lora_B.weight`) ?? (() => {
      throw new Error(`LoRA file '${file}': '${name}' has no matching lora_B`);
    })();
    const [rank, inF] = tA.shape as [number, number];
    const [outF, rankB] = tB.shape as [number, number];
    if (rankB !== rank) throw new Error(`LoRA file '${file}': module '${module}' has lora_A rank ${rank} but lora_B rank ${rankB}`);
    const r = Number(meta[`${component}.r`] ?? rank);
    const scale = Number(meta[`${component}.lora_alpha`] ?? r) / r;
    const [a, b] = [toFloat32(tA, file), toFloat32(tB, file)];
    const delta = new Float32Array(outF * inF);
    for (let o = 0; o < outF; o++) for (let k = 0; k < rank; k++) {
      const bv = b[o * rank + k]! * scale;
      if (bv !== 0) for (let i = 0; i < inF; i++) delta[o * inF + i]! += bv * a[k * inF + i]!;
    }
    deltas.set(module, { out: outF, in: inF, delta });
  }
  if (!deltas.size) throw new Error(`LoRA file '${file}' has no '${prefix}<module>.lora_A.weight' tensors`);
  return deltas;
};

const f32ToBf16 = (v: number): number => {
  const x = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
};

const encodeLike = (values: Float32Array, dataType: number): Uint8Array => {
  if (dataType === 1) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const convert = dataType === 10 ? float16Bits : dataType === 16 ? f32ToBf16 : undefined;
  if (!convert) throw new Error(`cannot merge LoRA into a weight of ONNX element type ${dataType}`);
  return new Uint8Array(Uint16Array.from(values, convert).buffer);
};

/** Where a module's weight lives in a model: its named initialiser, or the MatMul/Gemm in its node scope, possibly behind a Transpose. */
const weightOf = (module: string, nodes: readonly NodeMessage[], initialisers: ReadonlyMap<string, TensorMessage>): { tensor: TensorMessage; layout: "in_out" | "out_in" } | undefined => {
  const transposeOf = new Map(nodes.filter((n) => n.opType === "Transpose" && initialisers.has(n.input?.[0] ?? "")).map((n) => [n.output![0]!, n.input![0]!]));
  for (const n of nodes) {
    if (n.opType !== "MatMul" && n.opType !== "Gemm") continue;
    const input = n.input?.[1] ?? "";
    const through = transposeOf.get(input);
    const name = through ?? input;
    if (!initialisers.has(name)) continue;
    if (!moduleCandidates(n.name ?? "", name).includes(module)) continue;
    const transB = n.opType === "Gemm" && n.attribute?.find((a) => a.name === "transB")?.i === 1;
    return { tensor: initialisers.get(name)!, layout: transB !== (through !== undefined) ? "out_in" : "in_out" };
  }
  return undefined;
};

/**
 * `advgrpo export`'s merge: the source model (dynamic axes and all) with W += delta W for every module in
 * a peft LoRA file, written to `outPath` (external data beside it when past 2 GB). The weights keep their
 * element type (fp16/bf16 re-encoded after an fp32 merge).
 */
export const mergeLoraIntoOnnx = (modelPath: string, loraPath: string, outPath: string, component = "transformer"): WrittenModel & { merged: number } => {
  const model = parseModel(readFileSync(modelPath), modelPath);
  const external = new ExternalData(modelPath, dirname(modelPath));
  try {
    const initialisers = new Map((model.graph!.initializer ?? []).map((t) => [t.name ?? "", t]));
    const deltas = peftDeltas(loraPath, component);
    const replaced = new Map<string, TensorMessage>();
    for (const [module, { out, in: inF, delta }] of deltas) {
      const site = weightOf(module, model.graph!.node ?? [], initialisers) ??
        (() => {
          throw new OnnxImportError({ source: modelPath, reason: `LoRA module '${module}' (from '${loraPath}') matches no MatMul/Gemm weight or node scope` });
        })();
      const weight = decodeTensor(site.tensor, external).values as Float32Array;
      const [rows, cols] = site.tensor.dims as [number, number];
      const expected = site.layout === "in_out" ? [inF, out] : [out, inF];
      if (rows !== expected[0] || cols !== expected[1]) throw new OnnxImportError({ source: modelPath, reason: `weight '${site.tensor.name}' is [${rows},${cols}]; LoRA module '${module}' needs [${expected.join(",")}]` });
      const merged = Float32Array.from(weight);
      const deltaInLayout = site.layout === "out_in" ? delta : transpose(delta, out, inF);
      for (let i = 0; i < merged.length; i++) merged[i]! += deltaInLayout[i]!;
      replaced.set(site.tensor.name!, { name: site.tensor.name, dims: site.tensor.dims, dataType: site.tensor.dataType, rawData: encodeLike(merged, site.tensor.dataType ?? 1) });
    }
    // Every initialiser becomes embedded bytes first; the writer moves them out again past 2 GB.
    const initializer = (model.graph!.initializer ?? []).map((t) => {
      const merged = replaced.get(t.name ?? "");
      if (merged) return merged;
      if (t.dataLocation !== 1) return t;
      const entries = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      const length = entries.length === undefined ? (t.dims ?? []).reduce((a, b) => a * b, 1) * (elementBytes(t.dataType ?? 0) ?? 0) : Number(entries.length);
      return { name: t.name, dims: t.dims, dataType: t.dataType, rawData: external.read(t.name ?? "?", entries.location ?? "", Number(entries.offset ?? 0), length) };
    });
    const written = writeOnnxModel({ ...model, graph: { ...model.graph, initializer } }, outPath);
    return { ...written, merged: replaced.size };
  } finally {
    external.close();
  }
};
