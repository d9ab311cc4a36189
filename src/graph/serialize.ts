import { type AnyTypedArray, onnxTypeCode } from "./dtype.ts";
import type { Graph, Tensor } from "./graph.ts";
import type { AttrValue } from "./tensor.ts";
import { opDefinitions } from "./op-defs/index.ts";
import type { AttrKind } from "./op-defs/types.ts";
import { type AttributeMessage, attributeTypes, encodeModel, type ModelMessage, type TensorMessage, type ValueInfo } from "./onnx-proto.ts";

/** ai.onnx opset the builder targets: GroupNormalization needs 21, ORT 1.30 refuses 27. */
export const OPSET = 21;
const IR_VERSION = 10;
/** ORT's contrib operator set (FusedMatMul), version 1. */
const CONTRIB_DOMAIN = "com.microsoft";
const CONTRIB_OPSET = 1;

const valueInfo = (t: Tensor): ValueInfo => ({
  name: t.name,
  type: { tensorType: { elemType: onnxTypeCode[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } },
});

const rawBytes = (values: AnyTypedArray): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

const tensorMessage = (t: Tensor): TensorMessage => ({
  name: t.name,
  dims: [...t.shape],
  dataType: onnxTypeCode[t.dtype],
  rawData: rawBytes(t.constValue!),
});

const attribute = (name: string, kind: AttrKind, value: AttrValue): AttributeMessage => {
  switch (kind) {
    case "int":
      return { name, type: attributeTypes.INT, i: value as number };
    case "float":
      return { name, type: attributeTypes.FLOAT, f: value as number };
    case "ints":
      return { name, type: attributeTypes.INTS, ints: [...(value as number[])] };
    case "floats":
      return { name, type: attributeTypes.FLOATS, floats: [...(value as number[])] };
    case "string":
      return { name, type: attributeTypes.STRING, s: new TextEncoder().encode(value as string) };
  }
};

/**
 * ONNX Runtime orders execution by a depth-first walk back from the outputs that enters a node's producers
 * highest index first, and runs a node on leaving it. A Cast of an fp16 weight (graph/import.ts, float16 "keep")
 * written after the producer of its consumer's other input would therefore run before that whole branch, and
 * every weight's fp32 copy would be live from the start of a run. Written first, each runs just before its consumer.
 */
const isHalfWeightCast = (node: Graph["nodes"][number]): boolean => node.op === "Cast" && node.inputs[0]?.dtype === "float16" && node.inputs[0].constValue !== undefined;

const executionOrder = (graph: Graph): Graph["nodes"] => {
  const casts = graph.nodes.filter(isHalfWeightCast);
  return casts.length === 0 ? graph.nodes : [...casts, ...graph.nodes.filter((n) => !isHalfWeightCast(n))];
};

/** The graph as an ONNX ModelProto; its inputs, outputs and every node keep their names. Initialisers share the graph's data. */
export const onnxModel = (graph: Graph, metadata: Readonly<Record<string, string>> = {}): ModelMessage => ({
    irVersion: IR_VERSION,
    producerName: "advgrpo",
    opsetImport: [
      { domain: "", version: OPSET },
      ...(graph.nodes.some((node) => opDefinitions[node.op]!.domain === CONTRIB_DOMAIN) ? [{ domain: CONTRIB_DOMAIN, version: CONTRIB_OPSET }] : []),
    ],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map(tensorMessage),
      node: executionOrder(graph).map((node) => ({
        name: node.name,
        opType: node.op,
        ...(opDefinitions[node.op]!.domain ? { domain: opDefinitions[node.op]!.domain } : {}),
        input: node.inputs.map((t) => t?.name ?? ""),
        output: node.outputs.map((t) => t.name),
        attribute: Object.entries(node.attrs).map(([key, value]) => attribute(key, opDefinitions[node.op]!.attrs[key]!, value)),
      })),
    },
  });

/** Protobuf refuses messages of 2 GiB; leave room for the graph itself. */
export const EMBED_LIMIT_BYTES = 1.8 * 2 ** 30;

/** Serialises the graph as an ONNX model with its weights embedded (past protobuf's 2 GB: graph/external-data.ts). */
export const toOnnx = (graph: Graph, metadata: Readonly<Record<string, string>> = {}): Uint8Array => {
  const weights = graph.initializers.reduce((n, t) => n + t.constValue!.byteLength, 0);
  if (weights > EMBED_LIMIT_BYTES) {
    throw new Error(`graph '${graph.name}' holds ${weights} bytes of initialisers, past what one protobuf can hold (2 GB); write it with writeGraph (external data) and load it with LocalSession.createFromFile`);
  }
  return encodeModel(onnxModel(graph, metadata));
};
