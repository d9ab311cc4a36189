/**
 * Checks a record batch's declared sizes against the bytes its message carries, before anything is
 * decoded: a header is a few bytes, but its row and element counts size every array built from it, so a
 * damaged or crafted header ("1e8 rows" over a 2 MB body) would otherwise allocate gigabytes.
 *
 * The walk follows the Arrow IPC layout: field nodes depth-first, and per node a validity buffer followed
 * by the type's own buffers (data; offsets and data; offsets only for lists and maps; none for structs and
 * fixed-size lists, whose children carry the data). Every count is bounded by a buffer it indexes, so a
 * batch that passes cannot declare more elements than its body holds.
 */
import { DataType } from "apache-arrow";
import type { Field } from "apache-arrow";
import { DictionaryBatch as FbDictionaryBatch } from "apache-arrow/fb/dictionary-batch";
import { Message as FbMessage } from "apache-arrow/fb/message";
import { MessageHeader } from "apache-arrow/fb/message-header";
import { RecordBatch as FbRecordBatch } from "apache-arrow/fb/record-batch";
import { ByteBuffer } from "flatbuffers";

interface Region {
  readonly offset: number;
  readonly length: number;
}

/** The parts of a record batch (or dictionary batch) header the check reads. */
export interface BatchHeader {
  readonly length: number;
  readonly nodes: ReadonlyArray<{ readonly length: number; readonly nullCount: number }>;
  readonly buffers: ReadonlyArray<Region>;
  readonly compression: unknown;
}

class Oversized extends Error {}

const OFFSET_BYTES = 4;

/** Undefined when every declared count is backed by bytes; otherwise what is wrong, naming the column. */
export function batchBoundsProblem(fields: ReadonlyArray<Field>, header: BatchHeader, bodyLength: number): string | undefined {
  if (header.compression !== null && header.compression !== undefined) return "a compressed record batch (the log is never compressed)";
  for (const [i, b] of header.buffers.entries()) {
    if (!(b.offset >= 0 && b.length >= 0 && b.offset + b.length <= bodyLength)) {
      return `buffer ${i} (bytes ${b.offset}..${b.offset + b.length}) lies outside the ${bodyLength}-byte message body`;
    }
  }
  let node = 0;
  let buffer = 0;
  const nextBuffer = (column: string): Region => {
    const b = header.buffers[buffer++];
    if (b === undefined) throw new Oversized(`column '${column}' has fewer buffers than its type needs`);
    return b;
  };
  const need = (column: string, what: string, bytes: number, region: Region) => {
    if (bytes > region.length) throw new Oversized(`column '${column}' declares ${what} needing ${bytes} bytes, but its buffer holds ${region.length}`);
  };
  const visit = (field: Field, expectedLength: number | undefined, path: string): void => {
    const column = path === "" ? field.name : `${path}.${field.name}`;
    const n = header.nodes[node++];
    if (n === undefined) throw new Oversized(`column '${column}' has no field node`);
    if (expectedLength !== undefined && n.length !== expectedLength) {
      throw new Oversized(`column '${column}' declares ${n.length} values where ${expectedLength} are expected`);
    }
    const validity = nextBuffer(column);
    if (n.nullCount > 0) need(column, `a validity bitmap of ${n.length} values`, Math.ceil(n.length / 8), validity);
    const type: DataType = DataType.isDictionary(field.type) ? field.type.indices : field.type;
    const values = `${n.length} values`;
    if (DataType.isBool(type)) need(column, values, Math.ceil(n.length / 8), nextBuffer(column));
    else if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type) || DataType.isTimestamp(type) || DataType.isDuration(type)) {
      need(column, values, n.length * (type.ArrayType as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT, nextBuffer(column));
    } else if (DataType.isBinary(type) || DataType.isUtf8(type)) {
      need(column, values, n.length > 0 ? (n.length + 1) * OFFSET_BYTES : 0, nextBuffer(column));
      nextBuffer(column);
    } else if (DataType.isFixedSizeBinary(type)) need(column, values, n.length * type.byteWidth, nextBuffer(column));
    else if (DataType.isList(type) || DataType.isMap(type)) {
      need(column, values, n.length > 0 ? (n.length + 1) * OFFSET_BYTES : 0, nextBuffer(column));
      for (const child of type.children) visit(child, undefined, column);
    } else if (DataType.isFixedSizeList(type)) visit(type.children[0]!, n.length * type.listSize, column);
    else if (DataType.isStruct(type)) for (const child of type.children) visit(child, n.length, column);
    else throw new Oversized(`column '${column}' has type ${String(type)}, which the rollout log never writes`);
  };
  try {
    for (const field of fields) visit(field, header.length, "");
  } catch (error) {
    if (error instanceof Oversized) return error.message;
    throw error;
  }
  return undefined;
}

/** Bytes one FieldNode or Buffer struct takes inline in a flatbuffer vector. */
const STRUCT_BYTES = 16;

/**
 * Why a batch message's flatbuffer cannot hold the field-node and buffer vectors it declares; checked on
 * the raw bytes before arrow-js decodes them. Those vectors hold structs, which arrow-js materialises one
 * object per declared element without reading any: a damaged length (2^31) would exhaust the heap
 * instead of failing. A length that fits is then read element by element, out-of-range reads throwing.
 */
export function flatbufferVectorsProblem(metadata: Uint8Array): string | undefined {
  const message = FbMessage.getRootAsMessage(new ByteBuffer(metadata));
  const type = message.headerType();
  const batch =
    type === MessageHeader.RecordBatch
      ? message.header(new FbRecordBatch())
      : type === MessageHeader.DictionaryBatch
        ? message.header(new FbDictionaryBatch())?.data()
        : undefined;
  if (batch === undefined || batch === null) return undefined;
  for (const [what, length] of [["field nodes", batch.nodesLength()], ["buffers", batch.buffersLength()]] as const) {
    if (length * STRUCT_BYTES > metadata.length) return `its header declares ${length} ${what}, more than its ${metadata.length} bytes hold`;
  }
  return undefined;
}
