import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** Plain-object views of the ONNX messages (as protobufjs' toObject returns them with longs as numbers). */
interface TensorShapeDim {
  dimValue?: number;
  dimParam?: string;
}
export interface ValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: TensorShapeDim[] } } };
}
export interface AttributeMessage {
  name: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  t?: TensorMessage;
}
export interface NodeMessage {
  input?: string[];
  output?: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeMessage[];
}
export interface TensorMessage {
  name?: string;
  dims?: number[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  /** ONNX external data: `location` (path relative to the model file), `offset`, `length` as strings. */
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}
interface GraphMessage {
  name?: string;
  node?: NodeMessage[];
  initializer?: TensorMessage[];
  input?: ValueInfo[];
  output?: ValueInfo[];
}
export interface ModelMessage {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  graph?: GraphMessage;
  metadataProps?: { key: string; value: string }[];
}

export const attributeTypes = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

const root = protobuf.loadSync(fileURLToPath(new URL("./onnx.proto", import.meta.url)));
const Model = root.lookupType("onnx.ModelProto");

export const encodeModel = (model: ModelMessage): Uint8Array => Model.encode(Model.fromObject(model)).finish();

/** Throws protobufjs' decoding error on malformed bytes; the importer wraps it with the file name. */
export const decodeModel = (bytes: Uint8Array): ModelMessage =>
  Model.toObject(Model.decode(bytes), { longs: Number, enums: Number, defaults: false }) as ModelMessage;
