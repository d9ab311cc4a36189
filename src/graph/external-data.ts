/**
 * Writing ONNX models past protobuf's 2 GB limit: initialisers move into one data file beside the
 * model (`<model>.data`, 16-byte aligned offsets, as onnx's save_as_external_data writes them), so a
 * training graph built from a big import keeps its frozen weights as initialisers instead of feeding
 * them per step. ORT finds the data file relative to the model path (LocalSession.createFromFile).
 * Several models may point into one WeightFile: a tensor they hold in common is written once, and ORT's
 * CPU provider maps external data into memory (read-only, from the page cache) instead of copying it, so
 * sessions on those models share one copy of the weights.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Graph } from "./graph.ts";
import { encodeModel, type ModelMessage, type TensorMessage } from "./onnx-proto.ts";
import { EMBED_LIMIT_BYTES, onnxModel } from "./serialize.ts";

/** Small tensors (shapes, scalars) stay embedded, as onnx does below its size threshold. */
const EXTERNAL_MIN_BYTES = 1024;
const ALIGN = 16;

export interface WrittenModel {
  readonly modelPath: string;
  /** The data file, when weights went external. */
  readonly dataPath?: string;
  readonly modelBytes: number;
  /** Bytes this model added to its data file (a shared file holds tensors other models wrote already). */
  readonly dataBytes: number;
}

/**
 * One external-data file that any number of models in its folder point into. Equal tensors (the same bytes,
 * as the three policy graphs of one imported generator hold) are written once: the same typed array is
 * recognised at once, a copy by comparing its bytes.
 */
export class WeightFile {
  readonly path: string;
  private readonly fd: number;
  private size = 0;
  /** Written tensors by byte length and first bytes, each with its offset. */
  private readonly written = new Map<string, { raw: Uint8Array; offset: number }[]>();

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, "w");
  }

  /** Bytes in the file (tensors and alignment padding). */
  get bytes(): number {
    return this.size;
  }

  /** The offset of `raw` in the file, appending it unless an equal tensor is there already. */
  place(raw: Uint8Array): number {
    const key = `${raw.byteLength}:${Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, 32)).toString("hex")}`;
    const same = this.written.get(key) ?? [];
    const found = same.find((w) => (w.raw.buffer === raw.buffer && w.raw.byteOffset === raw.byteOffset) || Buffer.compare(w.raw, raw) === 0);
    if (found) return found.offset;
    const offset = appendAligned(this.fd, raw, this.size);
    this.size = offset + raw.byteLength;
    same.push({ raw, offset });
    this.written.set(key, same);
    return offset;
  }

  /** Closes the file; the models written into it stay valid. */
  close(): void {
    closeSync(this.fd);
    this.written.clear();
  }
}

/** Writes `raw` at the first 16-byte aligned offset from `end`, returning that offset. */
const appendAligned = (fd: number, raw: Uint8Array, end: number): number => {
  const padding = (ALIGN - (end % ALIGN)) % ALIGN;
  if (padding) writeSync(fd, new Uint8Array(padding), 0, padding, end);
  const offset = end + padding;
  let done = 0;
  while (done < raw.byteLength) done += writeSync(fd, raw, done, raw.byteLength - done, offset + done);
  return offset;
};

const initialiserBytes = (model: ModelMessage): number => (model.graph?.initializer ?? []).reduce((n, t) => n + (t.rawData?.byteLength ?? 0), 0);

interface WriteOptions {
  /** auto: embedded while the weights fit a protobuf; always / never: external / embedded whatever their size. */
  readonly external?: "auto" | "always" | "never";
  /** A data file shared with other models in the same folder (implies external); default `<path>.data` of this model's own. */
  readonly weights?: WeightFile;
}

const writeFile = (path: string, bytes: Uint8Array): void => {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
};

/**
 * Writes `model` to `path`: embedded when its weights fit a protobuf (`external: "auto"`), else with every
 * initialiser of 1 KiB or more in an external data file (`<path>.data`, or `options.weights`).
 */
export const writeOnnxModel = (model: ModelMessage, path: string, options: WriteOptions = {}): WrittenModel => {
  const { external = "auto", weights: shared } = options;
  const weights = initialiserBytes(model);
  const goExternal = shared !== undefined || external === "always" || (external === "auto" && weights > EMBED_LIMIT_BYTES);
  if (!goExternal) {
    if (weights > EMBED_LIMIT_BYTES) throw new Error(`model '${path}' has ${weights} bytes of weights, past protobuf's 2 GB limit; write it with external data`);
    const bytes = encodeModel(model);
    writeFile(path, bytes);
    return { modelPath: path, modelBytes: bytes.byteLength, dataBytes: 0 };
  }
  if (shared && dirname(resolve(shared.path)) !== dirname(resolve(path))) {
    throw new Error(`model '${path}': its shared weight file '${shared.path}' must be in the model's folder (ORT reads external data beside the model)`);
  }
  const data = shared ?? new WeightFile(`${path}.data`);
  const before = data.bytes;
  const location = basename(data.path);
  const moved: TensorMessage[] = [];
  try {
    for (const t of model.graph?.initializer ?? []) {
      const raw = t.rawData;
      if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) {
        moved.push(t);
        continue;
      }
      const offset = data.place(raw);
      moved.push({
        name: t.name,
        dims: t.dims,
        dataType: t.dataType,
        dataLocation: 1,
        externalData: [
          { key: "location", value: location },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(raw.byteLength) },
        ],
      });
    }
  } finally {
    if (!shared) data.close();
  }
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializer: moved } });
  writeFile(path, bytes);
  return { modelPath: path, dataPath: data.path, modelBytes: bytes.byteLength, dataBytes: data.bytes - before };
};

/** Serialises a built graph to a file, weights external when they would not fit a protobuf. */
export const writeGraph = (graph: Graph, path: string, options: WriteOptions & { metadata?: Readonly<Record<string, string>> } = {}): WrittenModel =>
  writeOnnxModel(onnxModel(graph, options.metadata), path, options);
