/** The torch-exported fixtures of test/fixtures/onnx and the PyTorch results recorded beside them. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseModel } from "../../src/graph/import.ts";
import { encodeModel } from "../../src/graph/onnx-proto.ts";
import { decodeSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { hostTensor, type HostTensor } from "../../src/runtime/tensors.ts";
import { toFloat16 } from "../../src/util/float16.ts";

export const fixturePath = (name: string): string => fileURLToPath(new URL(`../fixtures/onnx/${name}`, import.meta.url));

export interface Recorded {
  readonly tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;
  readonly config: Record<string, unknown>;
}

export const recorded = (model: string): Recorded => {
  const file = fixturePath(`${model}.expected.safetensors`);
  const st = decodeSafetensors(readFileSync(file), file);
  return {
    tensors: new Map(st.tensors.map((t) => [t.name, { shape: t.shape, data: toFloat32(t, file) }])),
    config: JSON.parse(st.metadata.config ?? "{}") as Record<string, unknown>,
  };
};

/** The recorded `input.<name>` tensors as feeds. */
export const recordedInputs = (r: Recorded): Record<string, HostTensor> =>
  Object.fromEntries(
    [...r.tensors].filter(([k]) => k.startsWith("input.")).map(([k, t]) => [k.slice("input.".length), hostTensor("float32", t.shape, Float32Array.from(t.data))]),
  );

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** A fixture as an fp16 export holds its weights: every fp32 initialiser of the model file rounded to binary16. */
export const halfModelBytes = (path: string): Uint8Array => {
  const model = parseModel(readFileSync(path), path);
  const initializer = model.graph!.initializer!.map((t) => {
    if (t.dataType !== 1) return t;
    const raw = t.rawData!;
    const half = toFloat16(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
    return { ...t, dataType: 10, rawData: new Uint8Array(half.buffer) };
  });
  return encodeModel({ ...model, graph: { ...model.graph, initializer } });
};
