import { type AnyTypedArray, type DType, dtypeFromOnnx } from "./dtype.ts";
import { OnnxImportError } from "./errors.ts";
import { type AttrValue, Graph, type Tensor } from "./graph.ts";
import { type AttributeMessage, attributeTypes, decodeModel, type ModelMessage, type TensorMessage, type ValueInfo } from "./onnx-proto.ts";

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

const signatureOf = (info: ValueInfo): ValueSignature => {
  const tensorType = info.type?.tensorType;
  const code = tensorType?.elemType ?? 0;
  return {
    name: info.name,
    dtype: dtypeFromOnnx(code) ?? `onnx type ${code}`,
    shape: (tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? d.dimParam ?? "?"),
  };
};

/** Reads names, dtypes and shapes of a model's inputs and outputs without building anything. */
export const readSignature = (bytes: Uint8Array, source: string): ModelSignature => {
  const model = parseModel(bytes, source);
  const initialisers = new Set((model.graph!.initializer ?? []).map((t) => t.name));
  return {
    inputs: (model.graph!.input ?? []).filter((i) => !initialisers.has(i.name)).map(signatureOf),
    outputs: (model.graph!.output ?? []).map(signatureOf),
    opset: model.opsetImport?.find((o) => !o.domain)?.version ?? 0,
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value])),
  };
};

/** Node Buffers share a pool (and Buffer#slice is a view), so raw tensor bytes are copied into their own buffer. */
const copyBytes = (bytes: Uint8Array): ArrayBuffer => {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
};

const tensorValues = (t: TensorMessage, dtype: DType, source: string): AnyTypedArray => {
  if (t.dataLocation === 1) throw new OnnxImportError({ source, reason: `initialiser '${t.name}' uses external data, which is not supported; re-export with weights embedded` });
  const raw = t.rawData && t.rawData.length > 0 ? copyBytes(t.rawData) : undefined;
  switch (dtype) {
    case "float32":
      return raw ? new Float32Array(raw) : Float32Array.from(t.floatData ?? []);
    case "float64":
      return raw ? new Float64Array(raw) : Float64Array.from(t.doubleData ?? []);
    case "int32":
      return raw ? new Int32Array(raw) : Int32Array.from(t.int32Data ?? []);
    case "int64":
      return raw ? new BigInt64Array(raw) : BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(v)));
    case "bool":
      return raw ? new Uint8Array(raw) : Uint8Array.from(t.int32Data ?? []);
  }
};

const attributeValue = (a: AttributeMessage): AttrValue => {
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
    default:
      throw new Error(`attribute '${a.name}' has unsupported type ${a.type}`);
  }
};

export interface ImportedGraph {
  readonly graph: Graph;
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly outputs: Readonly<Record<string, Tensor>>;
}

/**
 * Rebuilds an ONNX model with the typed builder so it can be extended and differentiated.
 * Symbolic dimensions (e.g. a batch axis) must be fixed through `dims`, since shapes are static.
 */
export const importGraph = (bytes: Uint8Array, source: string, dims: Readonly<Record<string, number>> = {}): ImportedGraph => {
  const model = parseModel(bytes, source);
  const g = model.graph!;
  const graph = new Graph(g.name || "imported");
  const values = new Map<string, Tensor>();
  const fail = (reason: string): never => {
    throw new OnnxImportError({ source, reason });
  };
  for (const init of g.initializer ?? []) {
    const dtype = dtypeFromOnnx(init.dataType ?? 0) ?? fail(`initialiser '${init.name}' has unsupported type ${init.dataType}`);
    values.set(init.name!, graph.constant(tensorValues(init, dtype, source), dtype, init.dims ?? [], init.name));
  }
  const inputs: Record<string, Tensor> = {};
  for (const info of g.input ?? []) {
    if (values.has(info.name)) continue;
    const sig = signatureOf(info);
    const shape = sig.shape.map((d) => (typeof d === "number" ? d : (dims[d] ?? fail(`input '${info.name}' has symbolic dimension '${d}'; give its size`))));
    if (sig.dtype.startsWith("onnx")) fail(`input '${info.name}' has unsupported ${sig.dtype}`);
    inputs[info.name] = graph.input(info.name, sig.dtype as DType, shape);
    values.set(info.name, inputs[info.name]!);
  }
  for (const node of g.node ?? []) {
    if (node.domain && node.domain !== "ai.onnx") fail(`node '${node.name}' uses op domain '${node.domain}'`);
    const nodeInputs = (node.input ?? []).map((name) => (name === "" ? undefined : (values.get(name) ?? fail(`node '${node.name}' reads unknown value '${name}'`))));
    const attrs = Object.fromEntries((node.attribute ?? []).map((a) => [a.name, attributeValue(a)]));
    const produced = graph.op(node.opType, nodeInputs, attrs, node.name || undefined);
    (node.output ?? []).forEach((name, i) => produced[i] && values.set(name, produced[i]));
  }
  const outputs = Object.fromEntries(
    (g.output ?? []).map((o) => [o.name, graph.output(values.get(o.name) ?? fail(`output '${o.name}' is never produced`), o.name)]),
  );
  return { graph, inputs, outputs };
};
