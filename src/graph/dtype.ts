import { toFloat16 } from "../util/float16.ts";

/**
 * Element types the engine builds graphs with, and their ONNX TensorProto.DataType codes. float16 holds an
 * imported model's half-precision weights (IEEE binary16 bits in a Uint16Array), cast to float32 where used.
 */
export type DType = "float32" | "float64" | "int64" | "int32" | "bool" | "float16";

export const onnxTypeCode: Readonly<Record<DType, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
  float16: 10,
};

const dtypeByCode = new Map<number, DType>(Object.entries(onnxTypeCode).map(([k, v]) => [v, k as DType]));

export const dtypeFromOnnx = (code: number): DType | undefined => dtypeByCode.get(code);

export const isFloat = (dtype: DType): boolean => dtype === "float32" || dtype === "float64";

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

/** Copies numbers into a fresh typed array of the dtype (bool as 0/1 bytes). */
export const typedArrayFrom = (dtype: DType, values: ArrayLike<number>): AnyTypedArray => {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "float64":
      return Float64Array.from(values);
    case "int32":
      return Int32Array.from(values);
    case "int64":
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case "bool":
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case "float16":
      return toFloat16(Float32Array.from(values));
  }
};
