/**
 * safetensors checkpoints (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 header length N,
 * N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the
 * raw little-endian tensor bytes, offsets relative to the end of the header. Typed arrays are read and written in
 * platform byte order, which is little-endian on every platform Node supports here (x64, arm64).
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import { elementCount, paramTensor, sameShape } from "../optim/param-set.ts";
import type { ParamSet } from "../optim/param-set.ts";
import { fromFloat16 } from "../util/float16.ts";

const DTYPES = {
  F64: { bytes: 8, array: Float64Array },
  F32: { bytes: 4, array: Float32Array },
  F16: { bytes: 2, array: Uint16Array },
  BF16: { bytes: 2, array: Uint16Array },
  I64: { bytes: 8, array: BigInt64Array },
  I32: { bytes: 4, array: Int32Array },
} as const;

type SafetensorsDtype = keyof typeof DTYPES;

const DTYPE_NAMES = Object.keys(DTYPES) as SafetensorsDtype[];

/** F16 and BF16 hold their raw 16-bit patterns; `toFloat32` converts any floating dtype. */
type SafetensorsData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array;

export interface SafeTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: SafetensorsData;
}

export interface Safetensors {
  /** In data-section order, which is the order they were written in. */
  readonly tensors: readonly SafeTensor[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** What a model expects one tensor of a checkpoint to be. */
interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: SafetensorsDtype;
}

const HEADER_PREFIX_BYTES = 8;
/** The reference implementation refuses larger headers; a bigger value means the file is not safetensors. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

const CORRUPTION = {
  truncated: "file is truncated",
  "header-length": "header length runs past the end of the file (truncated, or not a safetensors file)",
  "header-json": "header is not valid JSON",
  "header-entry": "invalid header entry",
  offsets: "data_offsets do not match the tensor",
  overlap: "tensors overlap in the data section",
} as const;

/** The bytes are not a well-formed safetensors file. `tensor` is empty for file-level problems. */
export class SafetensorsCorruptError extends Schema.TaggedError<SafetensorsCorruptError>()("SafetensorsCorruptError", {
  file: Schema.String,
  problem: Schema.Literals(Object.keys(CORRUPTION) as Corruption[]),
  tensor: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message(): string {
    const where = this.tensor === "" ? "" : ` (tensor "${this.tensor}")`;
    return `${this.file}: ${CORRUPTION[this.problem]}${where}: expected ${this.expected}, found ${this.found}`;
  }
}

type Corruption = keyof typeof CORRUPTION;

const corruption = (file: string, problem: Corruption, tensor: string, expected: string, found: string): SafetensorsCorruptError =>
  new SafetensorsCorruptError({ file, problem, tensor, expected, found });

const TensorMismatch = Schema.Struct({
  tensor: Schema.String,
  problem: Schema.Literals(["missing", "unexpected", "shape", "dtype"]),
  expected: Schema.String,
  found: Schema.String,
});
type TensorMismatch = typeof TensorMismatch.Type;

const MISMATCHES_SHOWN = 20;

/** A well-formed file whose tensors do not match what the model expects; lists every difference at once. */
export class SafetensorsMismatchError extends Schema.TaggedError<SafetensorsMismatchError>()("SafetensorsMismatchError", {
  file: Schema.String,
  mismatches: Schema.Array(TensorMismatch),
}) {
  override get message(): string {
    const lines = this.mismatches
      .slice(0, MISMATCHES_SHOWN)
      .map((m) => `  - tensor "${m.tensor}": ${m.problem}: expected ${m.expected}, found ${m.found}`);
    const more = this.mismatches.length > MISMATCHES_SHOWN ? [`  ... and ${this.mismatches.length - MISMATCHES_SHOWN} more`] : [];
    return [`${this.file}: tensors do not match the model (${this.mismatches.length} problems):`, ...lines, ...more].join("\n");
  }
}

/** Tensors handed to the encoder are inconsistent (caught before any byte is written). */
export class SafetensorsEncodeError extends Schema.TaggedError<SafetensorsEncodeError>()("SafetensorsEncodeError", {
  tensor: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message(): string {
    return `cannot encode safetensors: tensor "${this.tensor}": expected ${this.expected}, found ${this.found}`;
  }
}

export class SafetensorsIoError extends Schema.TaggedError<SafetensorsIoError>()("SafetensorsIoError", {
  file: Schema.String,
  operation: Schema.Literals(["read", "write"]),
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.file}: cannot ${this.operation} safetensors file: ${this.reason}`;
  }
}

const encodeError = (tensor: SafeTensor, expected: string, found: string): SafetensorsEncodeError =>
  new SafetensorsEncodeError({ tensor: tensor.name, expected, found });

const encodeProblem = (tensor: SafeTensor): SafetensorsEncodeError | undefined => {
  if (tensor.name === METADATA_KEY || tensor.name === "") {
    return encodeError(tensor, `a name other than "" and "${METADATA_KEY}"`, "a reserved name");
  }
  const { array } = DTYPES[tensor.dtype];
  if (!(tensor.data instanceof array)) {
    return encodeError(tensor, `${array.name} data for ${tensor.dtype}`, tensor.data.constructor.name);
  }
  const count = elementCount(tensor.shape);
  if (!tensor.shape.every((dim) => Number.isInteger(dim) && dim >= 0) || tensor.data.length !== count) {
    return encodeError(tensor, `${count} values for shape ${shapeText(tensor.shape)}`, `${tensor.data.length} values`);
  }
  return undefined;
};

/** Serialises tensors in the given order, header padded with spaces so the data section starts 8-byte aligned. */
export const encodeSafetensors = (contents: Safetensors): Uint8Array => {
  const names = new Set<string>();
  for (const tensor of contents.tensors) {
    const problem = encodeProblem(tensor);
    if (problem !== undefined) throw problem;
    if (names.has(tensor.name)) throw encodeError(tensor, "unique tensor names", "a duplicate");
    names.add(tensor.name);
  }
  const begins: number[] = [];
  let dataBytes = 0;
  for (const tensor of contents.tensors) {
    begins.push(dataBytes);
    dataBytes += tensor.data.byteLength;
  }
  const entries = contents.tensors.map((tensor, i) => [
    tensor.name,
    { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [begins[i], begins[i]! + tensor.data.byteLength] },
  ]);
  const hasMetadata = Object.keys(contents.metadata).length > 0;
  // fromEntries defines own properties, so even a tensor named "__proto__" lands in the header.
  const header = Object.fromEntries(hasMetadata ? [[METADATA_KEY, contents.metadata], ...entries] : entries);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = HEADER_PREFIX_BYTES + Math.ceil(json.length / HEADER_PREFIX_BYTES) * HEADER_PREFIX_BYTES;
  const out = new Uint8Array(dataStart + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(dataStart - HEADER_PREFIX_BYTES), true);
  out.set(json, HEADER_PREFIX_BYTES);
  out.fill(0x20, HEADER_PREFIX_BYTES + json.length, dataStart);
  contents.tensors.forEach((tensor, i) => {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), dataStart + begins[i]!);
  });
  return out;
};

interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

const isNonNegativeInteger = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const parseEntry = (file: string, name: string, raw: unknown): HeaderEntry => {
  const bad = (expected: string, found: unknown): SafetensorsCorruptError =>
    corruption(file, "header-entry", name, expected, JSON.stringify(found) ?? String(found));
  if (!isRecord(raw)) throw bad("an object {dtype, shape, data_offsets}", raw);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string" || !(DTYPE_NAMES as string[]).includes(dtype)) throw bad(`dtype one of ${DTYPE_NAMES.join(", ")}`, dtype);
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw bad("shape as an array of non-negative integers", shape);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw bad("data_offsets as [begin, end] non-negative integers", offsets);
  }
  const [begin, end] = offsets as [number, number];
  const entry: HeaderEntry = { name, dtype: dtype as SafetensorsDtype, shape, begin, end };
  const bytes = elementCount(shape) * DTYPES[entry.dtype].bytes;
  if (end < begin || end - begin !== bytes) {
    throw corruption(
      file,
      "offsets",
      name,
      `${bytes} bytes for ${dtype} ${shapeText(shape)}`,
      `data_offsets [${begin}, ${end}]`,
    );
  }
  return entry;
};

const parseMetadata = (file: string, raw: unknown): Record<string, string> => {
  if (raw === undefined) return {};
  if (!isRecord(raw) || !Object.values(raw).every((value) => typeof value === "string")) {
    throw corruption(file, "header-entry", METADATA_KEY, "an object of string values", JSON.stringify(raw));
  }
  return raw as Record<string, string>;
};

interface Header {
  readonly entries: readonly HeaderEntry[];
  readonly metadata: Record<string, string>;
  /** Byte offset of the data section in the file. */
  readonly dataStart: number;
}

const parseHeader = (file: string, bytes: Uint8Array): Header => {
  if (bytes.length < HEADER_PREFIX_BYTES) {
    throw corruption(file, "truncated", "", "at least 8 bytes (the header length)", `${bytes.length} bytes`);
  }
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  const available = bytes.length - HEADER_PREFIX_BYTES;
  if (declared > BigInt(Math.min(available, MAX_HEADER_BYTES))) {
    throw corruption(
      file,
      "header-length",
      "",
      `at most ${Math.min(available, MAX_HEADER_BYTES)} bytes (what follows the 8-byte prefix, capped at ${MAX_HEADER_BYTES})`,
      `${declared} bytes`,
    );
  }
  const dataStart = HEADER_PREFIX_BYTES + Number(declared);
  const text = new TextDecoder().decode(bytes.subarray(HEADER_PREFIX_BYTES, dataStart));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    const excerpt = JSON.stringify(text.slice(0, 80));
    throw corruption(file, "header-json", "", "a JSON object", `${(cause as Error).message} in ${excerpt}`);
  }
  if (!isRecord(parsed)) {
    throw corruption(file, "header-json", "", "a JSON object", JSON.stringify(parsed));
  }
  const entries = Object.entries(parsed)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, raw]) => parseEntry(file, name, raw));
  return { entries, metadata: parseMetadata(file, parsed[METADATA_KEY]), dataStart };
};

/** Orders entries by position and checks each lies inside the data section without overlapping its neighbour. */
const layOut = (file: string, entries: readonly HeaderEntry[], dataBytes: number): HeaderEntry[] => {
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous: HeaderEntry | undefined;
  for (const entry of ordered) {
    if (entry.end > dataBytes) {
      throw corruption(
        file,
        "truncated",
        entry.name,
        `a data section of at least ${entry.end} bytes (data_offsets [${entry.begin}, ${entry.end}])`,
        `${dataBytes} bytes`,
      );
    }
    if (entry.begin === entry.end) continue;
    if (previous !== undefined && entry.begin < previous.end) {
      throw corruption(
        file,
        "overlap",
        entry.name,
        `data starting at or after byte ${previous.end}, where "${previous.name}" ends`,
        `data_offsets [${entry.begin}, ${entry.end}]`,
      );
    }
    previous = entry;
  }
  return ordered;
};

/** Parses a whole file's bytes; `file` only labels errors. Tensor data is copied out of `bytes` (aligned, owned). */
export const decodeSafetensors = (bytes: Uint8Array, file = "<bytes>"): Safetensors => {
  const { entries, metadata, dataStart } = parseHeader(file, bytes);
  const tensors = layOut(file, entries, bytes.length - dataStart).map((entry): SafeTensor => {
    // A copy, not a view: the offsets need not be aligned, and a Buffer from readFile may sit in a shared pool.
    const raw = new Uint8Array(bytes.subarray(dataStart + entry.begin, dataStart + entry.end));
    return { name: entry.name, dtype: entry.dtype, shape: entry.shape, data: new DTYPES[entry.dtype].array(raw.buffer) };
  });
  return { tensors, metadata };
};

/**
 * Checks names, shapes and dtypes against what the model expects and reports every difference in one error.
 * `allowUnexpected` accepts extra tensors (e.g. optimiser state stored beside the weights).
 */
export const validateAgainst = (
  contents: Safetensors,
  spec: readonly TensorSpec[],
  file: string,
  options: { readonly allowUnexpected?: boolean } = {},
): void => {
  const present = new Map(contents.tensors.map((tensor) => [tensor.name, tensor]));
  const wanted = new Set(spec.map((s) => s.name));
  const mismatches = spec.flatMap((s): TensorMismatch[] => {
    const found = present.get(s.name);
    if (found === undefined) {
      return [{ tensor: s.name, problem: "missing", expected: `${s.dtype} ${shapeText(s.shape)}`, found: "no such tensor in the file" }];
    }
    const shape = { tensor: s.name, problem: "shape", expected: shapeText(s.shape), found: shapeText(found.shape) } as const;
    const dtype = { tensor: s.name, problem: "dtype", expected: s.dtype, found: found.dtype } as const;
    return [...(sameShape(found.shape, s.shape) ? [] : [shape]), ...(found.dtype === s.dtype ? [] : [dtype])];
  });
  const unexpected = options.allowUnexpected
    ? []
    : contents.tensors
        .filter((tensor) => !wanted.has(tensor.name))
        .map((tensor): TensorMismatch => ({
          tensor: tensor.name,
          problem: "unexpected",
          expected: "only the model's tensors",
          found: `${tensor.dtype} ${shapeText(tensor.shape)} not in the model`,
        }));
  if (mismatches.length + unexpected.length > 0) {
    throw new SafetensorsMismatchError({ file, mismatches: [...mismatches, ...unexpected] });
  }
};

/** Wraps fp32 parameters as F32 tensors (sharing their data) for encoding. */
export const fromParamSet = (params: ParamSet): SafeTensor[] =>
  params.map((p) => ({ name: p.name, dtype: "F32", shape: p.shape, data: p.data }));

const FLOAT_DTYPES: readonly SafetensorsDtype[] = ["F64", "F32", "F16", "BF16"];

/** Converts a floating tensor to fp32 (F32 data is shared, not copied); integer tensors are a dtype mismatch. */
export const toFloat32 = (tensor: SafeTensor, file: string): Float32Array => {
  switch (tensor.dtype) {
    case "F32":
      return tensor.data as Float32Array;
    case "F64":
      return Float32Array.from(tensor.data as Float64Array);
    case "F16":
      return fromFloat16(tensor.data as Uint16Array);
    case "BF16":
      // bfloat16 is the top half of a float32.
      return new Float32Array(Uint32Array.from(tensor.data as Uint16Array, (bits) => bits << 16).buffer);
    default:
      const expected = `a floating dtype (${FLOAT_DTYPES.join(", ")})`;
      throw new SafetensorsMismatchError({ file, mismatches: [{ tensor: tensor.name, problem: "dtype", expected, found: tensor.dtype }] });
  }
};

/** All tensors as fp32 parameters, in file order. */
export const toParamSet = (contents: Safetensors, file: string): ParamSet =>
  contents.tensors.map((tensor) => paramTensor(tensor.name, tensor.shape, toFloat32(tensor, file)));

/** For Effect.try's `catch`: keeps the expected tagged error and turns anything else (a bug) into a defect. */
const onlyFailWith =
  <E>(errorClass: abstract new (...args: never[]) => E) =>
  (cause: unknown): E => {
    if (cause instanceof errorClass) return cause;
    throw cause;
  };

const ioFailure =
  (file: string, operation: "read" | "write") =>
  (cause: unknown): SafetensorsIoError =>
    new SafetensorsIoError({ file, operation, reason: cause instanceof Error ? cause.message : String(cause) });

export const readSafetensors = (file: string): Effect.Effect<Safetensors, SafetensorsIoError | SafetensorsCorruptError> =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: ioFailure(file, "read"),
  }).pipe(
    Effect.flatMap((bytes) => Effect.try({ try: () => decodeSafetensors(bytes, file), catch: onlyFailWith(SafetensorsCorruptError) })),
  );

/** Writes to a temporary sibling and renames it into place, so a crash never leaves a half-written checkpoint. */
export const writeSafetensors = (file: string, contents: Safetensors): Effect.Effect<void, SafetensorsIoError | SafetensorsEncodeError> =>
  Effect.try({
    try: () => encodeSafetensors(contents),
    catch: onlyFailWith(SafetensorsEncodeError),
  }).pipe(
    Effect.flatMap((bytes) =>
      Effect.tryPromise({
        try: async () => {
          const partial = `${file}.partial-${process.pid}`;
          await writeFile(partial, bytes);
          await rename(partial, file);
        },
        catch: ioFailure(file, "write"),
      }),
    ),
  );
