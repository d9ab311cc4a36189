import * as ort from "onnxruntime-node";
import type { AnyTypedArray, DType } from "../graph/dtype.ts";

/** A tensor on the host, the currency between the engine and its callers (and across worker threads). */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: AnyTypedArray;
}

export type Feeds = Readonly<Record<string, HostTensor>>;
export type Fetches = Readonly<Record<string, HostTensor>>;

const ortType: Readonly<Record<DType, ort.Tensor.Type>> = {
  float32: "float32",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  bool: "bool",
  float16: "float16",
};

export const hostTensor = (dtype: DType, shape: readonly number[], data: AnyTypedArray): HostTensor => ({ dtype, shape, data });
export const f32 = (shape: readonly number[], data: Float32Array | readonly number[]): HostTensor =>
  hostTensor("float32", shape, data instanceof Float32Array ? data : Float32Array.from(data));

export const toOrt = (t: HostTensor): ort.Tensor => new ort.Tensor(ortType[t.dtype], t.data as never, [...t.shape]);

export const fromOrt = (t: ort.Tensor): HostTensor => {
  const dtype = (Object.keys(ortType) as DType[]).find((k) => ortType[k] === t.type);
  if (!dtype) throw new Error(`unsupported output tensor type ${t.type}`);
  return { dtype, shape: [...t.dims], data: t.data as AnyTypedArray };
};
