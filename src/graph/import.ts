/**
 * ONNX import: rebuilds a model written by a real exporter (torch.onnx.export as HF optimum uses it,
 * opset 14-17 and newer) with the typed builder, so it can be extended, adapted and differentiated.
 *
 * API for pipelines (see test/fixtures/onnx/README.md for the fixtures):
 *   const model = loadOnnx("transformer.onnx");          // parses once; reads external data beside it
 *   // inside a ModelBuilder (compileForward / compileTrainStep, options.lora = { rank, alpha, targets }):
 *   const { outputs, adapters } = importInto(graph, model, { bind: { hidden_states: x, ... }, scope });
 * - Symbolic dimensions are fixed from the bound tensors' shapes (or `dims`); every shape subgraph
 *   (Shape/Gather/Concat/Range/...) then folds to constants (graph/fold.ts), leaving a static graph.
 * - Weights stay constants (initialisers) of the built graph: never graph inputs, never fed per step.
 * - With `scope.lora` (or `lora`), MatMul/Gemm nodes whose weight name or node scope matches a target
 *   glob (`transformer_blocks.*.attn.to_q` matches both `transformer_blocks.0.attn.to_q.weight` and
 *   `/transformer_blocks.0/attn/to_q/MatMul` on an anonymous `onnx::MatMul_<n>`) get
 *   y += (alpha/rank) (x A) B with A, B parameters `<module>.lora_A` [in, rank] and `.lora_B` [rank, out]
 *   (B = 0, so the adapted graph equals the base at init); see graph/lora-io.ts to save and merge them.
 * - fp16/bf16 initialisers are widened to fp32 and Casts to them become Casts to fp32; with
 *   `loadOnnx(path, { float16: "keep" })` fp16 initialisers stay fp16 in the built graph (half the bytes), each
 *   cast to fp32 where it is used, so the arithmetic is the widened model's bit for bit.
 * Every failure is an OnnxImportError naming the file and the node or tensor.
 */
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { type DType, dtypeFromOnnx, onnxTypeCode } from "./dtype.ts";
import { OnnxImportError } from "./errors.ts";
import { constOf, foldable, folders } from "./fold.ts";
import { Graph, type Tensor } from "./graph.ts";
import { cast } from "./ops.ts";
import { fromFloat16 } from "../util/float16.ts";
import type { AttrValue } from "./tensor.ts";
import { type AttributeMessage, attributeTypes, decodeModel, type ModelMessage, type NodeMessage, type ValueInfo } from "./onnx-proto.ts";
import { checkExternalTensors, type ConstValue, decodeTensor, ExternalData } from "./onnx-tensors.ts";
import { type AdapterSite, LoraAttacher } from "./import-lora.ts";
import type { LoraConfig, ParamScope } from "../nn/params.ts";

export type { AdapterSite } from "./import-lora.ts";

/** A graph input or output as the file declares it; a symbolic dimension keeps its name. */
export interface ValueSignature {
  readonly name: string;
  readonly dtype: DType | `onnx type ${number}`;
  readonly shape: readonly (number | string)[];
}

export interface ModelSignature {
  readonly inputs: readonly ValueSignature[];
  readonly outputs: readonly ValueSignature[];
  readonly opset: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export const parseModel = (bytes: Uint8Array, source: string): ModelMessage => {
  let model: ModelMessage;
  try {
    model = decodeModel(bytes);
  } catch (cause) {
    throw new OnnxImportError({ source, reason: `not a valid ONNX protobuf (${(cause as Error).message})` });
  }
  if (!model.graph) throw new OnnxImportError({ source, reason: "the file holds no graph" });
  return model;
};

const FLOAT16_CODES = new Set([10, 16]);

const signatureOf = (info: ValueInfo): ValueSignature => {
  const tensorType = info.type?.tensorType;
  const code = tensorType?.elemType ?? 0;
  return {
    name: info.name,
    dtype: FLOAT16_CODES.has(code) ? "float32" : (dtypeFromOnnx(code) ?? `onnx type ${code}`),
    shape: (tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? d.dimParam ?? "?"),
  };
};

/** Reads names, dtypes and shapes of a model's inputs and outputs without building anything. */
export const readSignature = (bytes: Uint8Array, source: string): ModelSignature => signatureOfModel(parseModel(bytes, source));

const signatureOfModel = (model: ModelMessage): ModelSignature => {
  const initialisers = new Set((model.graph!.initializer ?? []).map((t) => t.name));
  return {
    inputs: (model.graph!.input ?? []).filter((i) => !initialisers.has(i.name)).map(signatureOf),
    outputs: (model.graph!.output ?? []).map(signatureOf),
    opset: model.opsetImport?.find((o) => !o.domain || o.domain === "ai.onnx")?.version ?? 0,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value])),
  };
};

/** A parsed model with its weights decoded (external data read once), ready to be imported any number of times. */
export interface OnnxModel {
  readonly source: string;
  readonly signature: ModelSignature;
  readonly nodes: readonly NodeMessage[];
  readonly initializers: ReadonlyMap<string, ConstValue>;
}

export interface LoadOptions {
  /** fp16 initialisers: widen = decoded to fp32 (default); keep = held as fp16, cast to fp32 where used. */
  readonly float16?: "widen" | "keep";
  /**
   * read (default); zeros = initialisers in external data are checked (file, offset, length) but not read, each a
   * zero tensor of its shape: allocated, never written, so it takes address space and no memory. For measuring the
   * graphs of a model too big to load (advgrpo plan); nothing computed from such a model means anything.
   */
  readonly externalWeights?: "read" | "zeros";
}

/** Parses ONNX bytes; `baseDir` is where external data files are looked up (the model file's folder). */
export const parseOnnx = (bytes: Uint8Array, source: string, baseDir?: string, options: LoadOptions = {}): OnnxModel => {
  const model = parseModel(bytes, source);
  const external = new ExternalData(source, baseDir);
  try {
    const keep = options.float16 === "keep";
    const zeros = options.externalWeights === "zeros";
    const initializers = new Map((model.graph!.initializer ?? []).map((t) => [t.name ?? "", decodeTensor(t, external, keep, zeros)] as const));
    return { source, signature: signatureOfModel(model), nodes: model.graph!.node ?? [], initializers };
  } finally {
    external.close();
  }
};

const readBytes = (path: string): Uint8Array => {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new OnnxImportError({ source: path, reason: `cannot read the file (${(cause as Error).message})` });
  }
};

/**
 * Reads a model file that ORT will load from its path (so external data beside it is found): its bytes, with
 * every external data file they name checked first (missing, outside the folder, truncated: an error naming it).
 */
export const readModelFile = (path: string): Uint8Array => {
  const bytes = readBytes(path);
  const external = new ExternalData(path, dirname(path));
  try {
    checkExternalTensors(parseModel(bytes, path).graph!.initializer ?? [], external);
  } finally {
    external.close();
  }
  return bytes;
};

/** Reads a model file and the external data files beside it. */
export const loadOnnx = (path: string, options: LoadOptions = {}): OnnxModel => parseOnnx(readBytes(path), path, dirname(path), options);

const CAST_TO_FLOAT32 = 1;

const attributeValue = (a: AttributeMessage, source: string, node: string): AttrValue | ConstValue => {
  switch (a.type) {
    case attributeTypes.INT:
      return a.i ?? 0;
    case attributeTypes.FLOAT:
      return a.f ?? 0;
    case attributeTypes.INTS:
      return a.ints ?? [];
    case attributeTypes.FLOATS:
      return a.floats ?? [];
    case attributeTypes.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case attributeTypes.TENSOR:
      return decodeTensor(a.t!, new ExternalData(source, undefined));
    default:
      throw new OnnxImportError({ source, reason: `node '${node}': attribute '${a.name}' has unsupported type ${a.type}` });
  }
};

interface ImportOptions {
  /** Sizes of symbolic dimensions not implied by `bind` (e.g. { batch_size: 2 }). */
  readonly dims?: Readonly<Record<string, number>>;
  /** Model inputs wired to tensors of the graph being built; the others become graph inputs. */
  readonly bind?: Readonly<Record<string, Tensor>>;
  /** Where adapter parameters are declared; required for LoRA. */
  readonly scope?: ParamScope;
  /** Adapters to attach; default `scope.lora`. */
  readonly lora?: LoraConfig;
}

interface ImportedGraph {
  readonly graph: Graph;
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly outputs: Readonly<Record<string, Tensor>>;
  readonly adapters: readonly AdapterSite[];
}

type Value = { readonly tensor: Tensor } | { readonly constant: ConstValue; readonly name: string };

const REDUCE_AXES_AS_INPUT_SINCE: Readonly<Record<string, number>> = { ReduceSum: 13, ReduceMean: 18, ReduceMax: 18 };

/**
 * Opset upgrades: the builder writes opset 21, where Reduce*, Squeeze and Unsqueeze take their axes and
 * Split its sizes as inputs. Rewrites `attrs` in place and returns the node's inputs in the new form.
 */
const upgradeInputs = (
  op: string,
  inputs: (Tensor | undefined)[],
  attrs: Record<string, unknown>,
  outputCount: number,
  opset: number,
  graph: Graph,
  fail: (reason: string) => never,
): (Tensor | undefined)[] => {
  const since = REDUCE_AXES_AS_INPUT_SINCE[op];
  if ((since || op === "Squeeze" || op === "Unsqueeze") && attrs.axes !== undefined) {
    if (since && opset >= since) fail("has an 'axes' attribute, which its opset no longer allows");
    const axes = attrs.axes as number[];
    delete attrs.axes;
    return [inputs[0], graph.ints(axes)];
  }
  if (op === "Split" && !inputs[1]) {
    const x = inputs[0] ?? fail("missing input");
    const axis = (((attrs.axis as number | undefined) ?? 0) + x.shape.length) % x.shape.length;
    const parts = (attrs.split as number[] | undefined) ?? new Array<number>(outputCount).fill(x.shape[axis]! / outputCount);
    if (parts.some((p) => !Number.isInteger(p))) fail(`cannot split dimension ${x.shape[axis]} into ${outputCount} equal parts`);
    delete attrs.split;
    delete attrs.num_outputs;
    return [x, graph.ints(parts)];
  }
  return inputs;
};

/** Builds an imported model into `graph` (see the module comment). */
export const importInto = (graph: Graph, model: OnnxModel, options: ImportOptions = {}): ImportedGraph => {
  const { source } = model;
  const fail = (reason: string): never => {
    throw new OnnxImportError({ source, reason });
  };
  const values = new Map<string, Value>();
  for (const [name, constant] of model.initializers) values.set(name, { constant, name });
  const materialised = new Map<string, Tensor>();
  const tensorOf = (name: string, v: Value): Tensor => {
    if ("tensor" in v) return v.tensor;
    let t = materialised.get(name);
    if (!t) {
      const c = v.constant;
      t = graph.constant(c.values, c.dtype, c.shape, v.name);
      // A half-precision weight stays half in the graph; the arithmetic reads its exact fp32 value.
      if (c.dtype === "float16") t = cast(t, "float32");
      materialised.set(name, t);
    }
    return t;
  };
  /** Constant folding computes in fp32: a kept-fp16 constant is widened for it (once). */
  const widenedConstants = new Map<ConstValue, ConstValue>();
  const foldingValue = (c: ConstValue): ConstValue => {
    if (c.dtype !== "float16") return c;
    let wide = widenedConstants.get(c);
    if (!wide) {
      wide = { dtype: "float32", shape: c.shape, values: fromFloat16(c.values as Uint16Array) };
      widenedConstants.set(c, wide);
    }
    return wide;
  };

  const dims: Record<string, number> = { ...options.dims };
  const inputs: Record<string, Tensor> = {};
  for (const sig of model.signature.inputs) {
    const bound = options.bind?.[sig.name];
    if (bound) {
      if (bound.shape.length !== sig.shape.length) fail(`input '${sig.name}' has rank ${sig.shape.length} ([${sig.shape.join(",")}]); the bound tensor has shape [${bound.shape.join(",")}]`);
      sig.shape.forEach((d, i) => {
        const size = bound.shape[i]!;
        const expected = typeof d === "number" ? d : dims[d];
        if (expected !== undefined && expected !== size) fail(`input '${sig.name}' dimension ${i} ('${d}') is ${expected}; the bound tensor has shape [${bound.shape.join(",")}]`);
        if (typeof d === "string") dims[d] = size;
      });
    }
  }
  for (const sig of model.signature.inputs) {
    if (sig.dtype.startsWith("onnx")) fail(`input '${sig.name}' has unsupported ${sig.dtype}`);
    const shape = sig.shape.map((d) => (typeof d === "number" ? d : (dims[d] ?? fail(`input '${sig.name}' has symbolic dimension '${d}'; give its size`))));
    inputs[sig.name] = options.bind?.[sig.name] ?? graph.input(sig.name, sig.dtype as DType, shape);
    values.set(sig.name, { tensor: inputs[sig.name]! });
  }

  const lora = options.lora ?? options.scope?.lora;
  if (lora && !options.scope) fail("LoRA adapters need a parameter scope to declare their factors in");
  const adapters = lora ? new LoraAttacher(source, lora, options.scope!, model.initializers) : undefined;
  const opset = model.signature.opset;

  for (const node of model.nodes) {
    const nodeName = node.name || `${node.opType}(${(node.output ?? []).join(",")})`;
    const failNode = (reason: string): never => fail(`${node.opType} node '${nodeName}': ${reason}`);
    if (node.domain && node.domain !== "ai.onnx") failNode(`op domain '${node.domain}' is not supported`);
    const attrs: Record<string, AttrValue | ConstValue> = Object.fromEntries((node.attribute ?? []).map((a) => [a.name, attributeValue(a, source, nodeName)]));
    let ins = (node.input ?? []).map((name) => (name === "" ? undefined : (values.get(name) ?? failNode(`reads unknown value '${name}'`))));
    let inputNames = node.input ?? [];
    let opType = node.opType;
    if (opType === "CastLike") {
      const like = ins[1] ?? failNode("missing input 1 (target_type)");
      attrs.to = onnxTypeCode["tensor" in like ? like.tensor.dtype : like.constant.dtype];
      [opType, ins, inputNames] = ["Cast", ins.slice(0, 1), inputNames.slice(0, 1)];
    }
    const outNames = node.output ?? [];
    const setConst = (c: ConstValue, i = 0) => values.set(outNames[i]!, { constant: c, name: outNames[i]! });

    if (opType === "Constant") {
      const c = (attrs.value as ConstValue | undefined) ?? (attrs.value_float !== undefined ? constOf("float32", [], Float32Array.of(attrs.value_float as number))
        : attrs.value_int !== undefined ? constOf("int64", [], BigInt64Array.of(BigInt(attrs.value_int as number)))
        : attrs.value_ints !== undefined ? constOf("int64", [(attrs.value_ints as number[]).length], BigInt64Array.from((attrs.value_ints as number[]).map(BigInt)))
        : attrs.value_floats !== undefined ? constOf("float32", [(attrs.value_floats as number[]).length], Float32Array.from(attrs.value_floats as number[]))
        : failNode("has no value attribute the importer reads (value, value_float(s), value_int(s))"));
      setConst(c);
      continue;
    }
    if (opType === "Shape" || opType === "Size") {
      const x = ins[0] ?? failNode("missing input");
      const shape = "tensor" in x ? x.tensor.shape : x.constant.shape;
      if (opType === "Size") setConst(constOf("int64", [], BigInt64Array.of(BigInt(shape.reduce((a, b) => a * b, 1)))));
      else {
        const rank = shape.length;
        const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
        const picked = shape.slice(clampAxis((attrs.start as number | undefined) ?? 0), clampAxis((attrs.end as number | undefined) ?? rank));
        setConst(constOf("int64", [picked.length], BigInt64Array.from(picked.map(BigInt))));
      }
      continue;
    }
    if (opType === "Cast" && FLOAT16_CODES.has(attrs.to as number)) attrs.to = CAST_TO_FLOAT32;
    if (opType === "Dropout") {
      values.set(outNames[0]!, ins[0]!);
      continue;
    }
    const constants = ins.map((v) => (v && "constant" in v ? v.constant : undefined));
    if (opType === "Transpose") adapters?.noteTranspose(outNames[0]!, inputNames[0] ?? "");
    if (ins.every((v, i) => !v || constants[i]) && foldable(opType, constants)) {
      folders[opType]!(constants.map((c) => c && foldingValue(c)), attrs as Record<string, AttrValue>).forEach((c, i) => setConst(c, i));
      continue;
    }

    const inputs = upgradeInputs(opType, ins.map((v, i) => (v ? tensorOf(inputNames[i]!, v) : undefined)), attrs, outNames.length, opset, graph, failNode);
    let produced: Tensor[];
    try {
      // A copy: the builder's array is the node's own output list, which the adapter must not rewrite.
      produced = [...graph.op(opType, inputs, attrs as Record<string, AttrValue>, nodeName)];
    } catch (cause) {
      return fail((cause as Error).message);
    }
    if (adapters && (opType === "MatMul" || opType === "Gemm") && ins[1]) {
      produced[0] = adapters.attach(nodeName, opType, inputs[0]!, inputNames[1]!, produced[0]!, attrs);
    }
    outNames.forEach((name, i) => produced[i] && values.set(name, { tensor: produced[i] }));
  }

  adapters?.assertAllMatched(model.nodes);

  const outputs = Object.fromEntries(
    model.signature.outputs.map((o) => {
      const v = values.get(o.name) ?? fail(`output '${o.name}' is never produced`);
      return [o.name, tensorOf(o.name, v)];
    }),
  );
  return { graph, inputs, outputs, adapters: adapters?.sites ?? [] };
};

/**
 * Rebuilds an ONNX model as a graph of its own whose outputs keep the model's names.
 * Symbolic dimensions (e.g. a batch axis) must be fixed through `dims`, since shapes are static.
 */
export const importGraph = (bytes: Uint8Array, source: string, dims: Readonly<Record<string, number>> = {}, baseDir?: string): ImportedGraph => {
  const model = parseOnnx(bytes, source, baseDir);
  const graph = new Graph("imported");
  const imported = importInto(graph, model, { dims });
  const outputs = Object.fromEntries(Object.entries(imported.outputs).map(([name, t]) => [name, graph.output(t, name)]));
  return { ...imported, outputs };
};
