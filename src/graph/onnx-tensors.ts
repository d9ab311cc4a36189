/**
 * Values of ONNX TensorProtos as the builder holds them: embedded (raw or typed fields) or in external
 * data files (one file or many, at offsets). fp16/bf16 tensors are widened to fp32, since every graph
 * the builder makes computes in fp32; fp16 ones may instead stay fp16 (decodeTensor's keepFloat16).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import { toFloat32 } from "../io/safetensors.ts";
import type { AnyTypedArray, DType } from "./dtype.ts";
import { dtypeFromOnnx } from "./dtype.ts";
import { OnnxImportError } from "./errors.ts";
import type { TensorMessage } from "./onnx-proto.ts";

export interface ConstValue {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly values: AnyTypedArray;
}

/** TensorProto.DataType codes the importer widens to float32. */
const FLOAT16 = 10;
const BFLOAT16 = 16;
const EXTERNAL = 1;

/** Bytes per element of an ONNX element type code (undefined for types the importer does not read). */
export const elementBytes = (code: number): number | undefined => ({ 1: 4, 6: 4, 7: 8, 9: 1, 11: 8, 10: 2, 16: 2 })[code];

/** Where a model's external data files live, and an open-file cache so many tensors share one descriptor. */
export class ExternalData {
  private readonly fds = new Map<string, { fd: number; size: number }>();
  readonly baseDir: string | undefined;
  readonly source: string;

  constructor(source: string, baseDir: string | undefined) {
    this.source = source;
    this.baseDir = baseDir;
  }

  /** The open data file holding bytes offset..offset+length of `tensor`, checked to exist, lie inside the model's folder and be long enough. */
  private locate(tensor: string, location: string, offset: number, length: number): { fd: number; size: number } {
    const fail = (reason: string): never => {
      throw new OnnxImportError({ source: this.source, reason: `initialiser '${tensor}': ${reason}` });
    };
    if (this.baseDir === undefined) fail(`its data lives in external file '${location}'; import the model from its file path so the data can be found beside it`);
    if (isAbsolute(location) || normalize(location).startsWith("..")) fail(`external data location '${location}' must be a relative path inside the model's folder`);
    const path = join(this.baseDir!, location);
    let file = this.fds.get(path);
    if (!file) {
      try {
        const fd = openSync(path, "r");
        file = { fd, size: fstatSync(fd).size };
      } catch (cause) {
        return fail(`cannot open external data file '${path}' (${(cause as Error).message})`);
      }
      this.fds.set(path, file);
    }
    if (offset + length > file.size) fail(`external data file '${path}' has ${file.size} bytes but the tensor needs bytes ${offset}..${offset + length} (truncated file?)`);
    return file;
  }

  /** Checks where the bytes are without reading them. */
  check(tensor: string, location: string, offset: number, length: number): void {
    this.locate(tensor, location, offset, length);
  }

  read(tensor: string, location: string, offset: number, length: number): Uint8Array {
    const file = this.locate(tensor, location, offset, length);
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) done += readSync(file.fd, bytes, done, length - done, offset + done);
    return bytes;
  }

  close(): void {
    for (const { fd } of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** An external tensor's file, offset and length, checked against the bytes its shape needs (when its element size is known). */
const externalRange = (t: TensorMessage, byteCount: number | undefined, external: ExternalData) => {
  const entries = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
  const fail = (reason: string): never => {
    throw new OnnxImportError({ source: external.source, reason: `initialiser '${t.name}': ${reason}` });
  };
  const location = entries.location ?? fail("external data without a 'location'");
  const offset = Number(entries.offset ?? 0);
  const length = entries.length === undefined ? (byteCount ?? fail("external data of an element type of unknown size without a 'length'")) : Number(entries.length);
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(length)) fail(`bad external data offset '${entries.offset}' or length '${entries.length}'`);
  if (byteCount !== undefined && length !== byteCount) fail(`external data length ${length} does not match ${byteCount} bytes of its shape [${(t.dims ?? []).join(",")}]`);
  return [t.name ?? "?", location, offset, length] as const;
};

const externalBytes = (t: TensorMessage, byteCount: number, external: ExternalData): Uint8Array => external.read(...externalRange(t, byteCount, external));

/** Bytes of a tensor of its element type and shape (undefined for element types the importer does not read). */
const tensorBytes = (t: TensorMessage): number | undefined => {
  const bytes = elementBytes(t.dataType ?? 0);
  return bytes === undefined ? undefined : (t.dims ?? []).reduce((a, b) => a * b, 1) * bytes;
};

/**
 * Checks every external initialiser of a model that ORT will load from its path (exports past 2 GB): the data
 * file exists inside the model's folder and holds the tensor's bytes. ORT's own error for a missing or short
 * file does not always name it; this one names the model, the tensor and the file.
 */
export const checkExternalTensors = (initialisers: readonly TensorMessage[], external: ExternalData): void => {
  for (const t of initialisers) if (t.dataLocation === EXTERNAL) external.check(...externalRange(t, tensorBytes(t), external));
};

/** Copies into a fresh, aligned buffer: Node Buffers share a pool and protobuf's bytes are views into the file. */
const ownBytes = (bytes: Uint8Array): ArrayBuffer => {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
};

/**
 * A TensorProto's values. fp16 and bf16 are widened to fp32 unless `keepFloat16`, which keeps fp16 tensors as
 * their binary16 bits (dtype float16) for graphs that hold them at half the size (bf16 is widened either way).
 */
/** `externalZeros`: an external tensor's range is checked, then it is a zero tensor (LoadOptions.externalWeights). */
export const decodeTensor = (t: TensorMessage, external: ExternalData, keepFloat16 = false, externalZeros = false): ConstValue => {
  const code = t.dataType ?? 0;
  const fail = (reason: string): never => {
    throw new OnnxImportError({ source: external.source, reason: `initialiser '${t.name}': ${reason}` });
  };
  const shape = t.dims ?? [];
  const count = shape.reduce((a, b) => a * b, 1);
  const wide = code === BFLOAT16 || (code === FLOAT16 && !keepFloat16);
  const dtype = wide ? "float32" : (dtypeFromOnnx(code) ?? fail(`unsupported element type ${code}`));
  const bytesPer = elementBytes(code)!;
  let raw: ArrayBuffer | undefined;
  if (t.dataLocation === EXTERNAL && externalZeros) {
    external.check(...externalRange(t, count * bytesPer, external));
    // widened straight to zeros: converting would write, and so hold, every page
    if (wide) return { dtype, shape, values: new Float32Array(count) };
    raw = new ArrayBuffer(count * bytesPer);
  } else if (t.dataLocation === EXTERNAL) raw = ownBytes(externalBytes(t, count * bytesPer, external));
  else if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * bytesPer) fail(`holds ${t.rawData.length} bytes, its shape [${shape.join(",")}] needs ${count * bytesPer}`);
    raw = ownBytes(t.rawData);
  }
  if (wide) {
    // fp16/bf16 values sit in raw bytes or, one per element, in int32_data.
    const bits = raw ? new Uint16Array(raw) : Uint16Array.from(t.int32Data ?? []);
    return { dtype, shape, values: toFloat32({ name: t.name ?? "?", dtype: code === FLOAT16 ? "F16" : "BF16", shape, data: bits }, external.source) };
  }
  const values = ((): AnyTypedArray => {
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
      case "float16":
        // binary16 bits sit in raw bytes or, one per element, in int32_data.
        return raw ? new Uint16Array(raw) : Uint16Array.from(t.int32Data ?? []);
    }
  })();
  if (values.length !== count) fail(`holds ${values.length} values, its shape [${shape.join(",")}] needs ${count}`);
  return { dtype, shape, values };
};
