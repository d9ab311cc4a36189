/**
 * Arrow columns built directly from typed arrays (one allocation per column per batch; the convenience
 * builders are ~300x slower) and read back from a decoded batch's buffers. Each builder has its reader
 * next to it so the two layouts cannot drift apart.
 */
import { Binary, Float16, Float32, Float64, Int32, Int64, Precision, Utf8, makeData, makeVector } from "apache-arrow";
import type { Data, DataType, Dictionary, FixedSizeList, List, Map_, Struct } from "apache-arrow";
import { fromFloat16, toFloat16 } from "../../util/float16.ts";

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function offsetsOf(lengths: ArrayLike<number>): Int32Array {
  const offsets = new Int32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i]! + lengths[i]!;
  return offsets;
}

function concatBytes(chunks: readonly Uint8Array[], offsets: Int32Array): Uint8Array {
  const out = new Uint8Array(offsets[chunks.length]!);
  chunks.forEach((chunk, i) => out.set(chunk, offsets[i]));
  return out;
}

export const float64Column = (values: Float64Array): Data<Float64> =>
  makeData({ type: new Float64(), length: values.length, data: values });

export const int32Column = (values: Int32Array): Data<Int32> =>
  makeData({ type: new Int32(), length: values.length, data: values });

export const int64Column = (values: BigInt64Array): Data<Int64> =>
  makeData({ type: new Int64(), length: values.length, data: values });

function utf8Column(strings: readonly string[]): Data<Utf8> {
  const bytes = strings.map((s) => textEncoder.encode(s));
  const valueOffsets = offsetsOf(bytes.map((b) => b.length));
  return makeData({ type: new Utf8(), length: strings.length, valueOffsets, data: concatBytes(bytes, valueOffsets) });
}

export function binaryColumn(chunks: readonly Uint8Array[]): Data<Binary> {
  const valueOffsets = offsetsOf(chunks.map((c) => c.length));
  return makeData({ type: new Binary(), length: chunks.length, valueOffsets, data: concatBytes(chunks, valueOffsets) });
}

/** Dictionary-encodes strings; the dictionary holds this batch's distinct values in first-seen order. */
export function dictionaryColumn(type: Dictionary<Utf8, Int32>, values: readonly string[]): Data<Dictionary<Utf8, Int32>> {
  const codes = new Map<string, number>();
  const indices = Int32Array.from(values, (v) => codes.get(v) ?? codes.set(v, codes.size).get(v)!);
  const dictionary = makeVector(utf8Column([...codes.keys()]));
  return makeData({ type, length: values.length, data: indices, dictionary });
}

/** Rows of equal-length tensors, concatenated into one child buffer; a float16 item type rounds the values. */
export function tensorColumn(type: FixedSizeList<Float32 | Float16>, tensors: readonly Float32Array[]): Data<FixedSizeList<Float32 | Float16>> {
  const size = type.listSize;
  const values = new Float32Array(tensors.length * size);
  tensors.forEach((t, i) => values.set(t, i * size));
  const child =
    type.valueType.precision === Precision.HALF
      ? makeData({ type: new Float16(), length: values.length, data: toFloat16(values) })
      : makeData({ type: new Float32(), length: values.length, data: values });
  return makeData({ type, length: tensors.length, child });
}

export function listColumn<T extends DataType>(type: List<T>, lengths: ArrayLike<number>, child: Data<T>): Data<List<T>> {
  return makeData({ type, length: lengths.length, valueOffsets: offsetsOf(lengths), child });
}

export const structColumn = <T extends Struct>(type: T, length: number, children: Data[]): Data<T> =>
  makeData({ type, length, children });

/** Rows of string -> float64 records as an Arrow Map (keys in each record's insertion order). */
export function mapColumn(type: Map_<Utf8, Float64>, records: readonly Readonly<Record<string, number>>[]): Data<Map_<Utf8, Float64>> {
  const entries = records.map((r) => Object.entries(r));
  const flat = entries.flat();
  const child = structColumn(type.children[0]!.type as Struct, flat.length, [
    utf8Column(flat.map(([k]) => k)),
    float64Column(Float64Array.from(flat, ([, v]) => v)),
  ]);
  return makeData({ type, length: records.length, valueOffsets: offsetsOf(entries.map((e) => e.length)), child });
}

// Readers. arrow-js slices a column's buffers together with the column, so indices need no Data.offset.

export function readNumber(data: Data<Float64 | Int32>, row: number): number {
  return (data.values as Float64Array | Int32Array)[row]!;
}

export function readInt64(data: Data<Int64>, row: number): number {
  return Number((data.values as BigInt64Array)[row]!);
}

export function readDictionary(data: Data<Dictionary<Utf8, Int32>>, row: number): string {
  return data.dictionary!.get((data.values as Int32Array)[row]!) as string;
}

function valueRange(data: Data, row: number): [number, number] {
  const offsets = data.valueOffsets as Int32Array;
  return [offsets[row]!, offsets[row + 1]!];
}

function readUtf8(data: Data<Utf8>, row: number): string {
  const [start, end] = valueRange(data, row);
  return textDecoder.decode((data.values as Uint8Array).subarray(start, end));
}

export function readBinary(data: Data<Binary>, row: number): Uint8Array {
  const [start, end] = valueRange(data, row);
  return (data.values as Uint8Array).slice(start, end);
}

/** A float32 copy, so rows outlive the batch buffer they were decoded from. */
export function readTensor(data: Data<FixedSizeList<Float32 | Float16>>, row: number): Float32Array {
  const size = data.type.listSize;
  const start = row * size;
  const values = data.children[0]!.values as Float32Array | Uint16Array;
  return values instanceof Uint16Array ? fromFloat16(values.subarray(start, start + size)) : values.slice(start, start + size);
}

/** Index range of a list row's elements in its child column. */
export function readListRange(data: Data<List | Map_>, row: number): [number, number] {
  return valueRange(data, row);
}

export function readMap(data: Data<Map_<Utf8, Float64>>, row: number): Record<string, number> {
  const [start, end] = valueRange(data, row);
  const [keys, values] = data.children[0]!.children as [Data<Utf8>, Data<Float64>];
  const record: Record<string, number> = {};
  for (let i = start; i < end; i++) record[readUtf8(keys, i)] = readNumber(values, i);
  return record;
}
