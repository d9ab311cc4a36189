/**
 * Writing ONNX models past protobuf's 2 GB limit: initialisers move into one data file beside the
 * model (`<model>.data`, 16-byte aligned offsets, as onnx's save_as_external_data writes them), so a
 * training graph built from a big import keeps its frozen weights as initialisers instead of feeding
 * them per step. ORT finds the data file relative to the model path (LocalSession.createFromFile).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { basename } from "node:path";
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
  readonly dataBytes: number;
}

const initialiserBytes = (model: ModelMessage): number => (model.graph?.initializer ?? []).reduce((n, t) => n + (t.rawData?.byteLength ?? 0), 0);

/**
 * Writes `model` to `path`: embedded when its weights fit a protobuf (`external: "auto"`), else with every
 * initialiser of 1 KiB or more in `<path>.data`.
 */
export const writeOnnxModel = (model: ModelMessage, path: string, external: "auto" | "always" | "never" = "auto"): WrittenModel => {
  const weights = initialiserBytes(model);
  const goExternal = external === "always" || (external === "auto" && weights > EMBED_LIMIT_BYTES);
  if (!goExternal) {
    if (weights > EMBED_LIMIT_BYTES) throw new Error(`model '${path}' has ${weights} bytes of weights, past protobuf's 2 GB limit; write it with external data`);
    const bytes = encodeModel(model);
    const fd = openSync(path, "w");
    try {
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    return { modelPath: path, modelBytes: bytes.byteLength, dataBytes: 0 };
  }
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const fd = openSync(dataPath, "w");
  let offset = 0;
  const moved: TensorMessage[] = [];
  try {
    for (const t of model.graph?.initializer ?? []) {
      const raw = t.rawData;
      if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) {
        moved.push(t);
        continue;
      }
      const padding = (ALIGN - (offset % ALIGN)) % ALIGN;
      if (padding) writeSync(fd, new Uint8Array(padding), 0, padding, offset);
      offset += padding;
      let done = 0;
      while (done < raw.byteLength) done += writeSync(fd, raw, done, raw.byteLength - done, offset + done);
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
      offset += raw.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializer: moved } });
  const modelFd = openSync(path, "w");
  try {
    writeSync(modelFd, bytes);
  } finally {
    closeSync(modelFd);
  }
  return { modelPath: path, dataPath, modelBytes: bytes.byteLength, dataBytes: offset };
};

/** Serialises a built graph to a file, weights external when they would not fit a protobuf. */
export const writeGraph = (graph: Graph, path: string, options: { metadata?: Readonly<Record<string, string>>; external?: "auto" | "always" | "never" } = {}): WrittenModel =>
  writeOnnxModel(onnxModel(graph, options.metadata), path, options.external);
