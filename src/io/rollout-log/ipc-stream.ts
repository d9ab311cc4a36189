/**
 * Message framing of the Arrow IPC *stream* format, which the log uses on disk:
 *   [schema message] ([dictionary messages] [record batch message])*   (no end-of-stream marker)
 * Each message is 0xFFFFFFFF, an int32 metadata length, the flatbuffer metadata, then `bodyLength` body bytes.
 *
 * Why the stream format: appending a batch only adds bytes at the end, so the bytes before any batch
 * boundary are always a complete, valid stream (the end-of-stream marker is optional per the Arrow spec);
 * a crash can only leave a partial message at the tail, which the index below detects from the framing.
 * The file format's footer would have to be rewritten on every batch and is unreadable until written.
 */
import fs from "node:fs";
import { Field, Message, MessageHeader, RecordBatchReader, RecordBatchStreamWriter } from "apache-arrow";
import type { RecordBatch, Schema as ArrowSchema } from "apache-arrow";
import { batchBoundsProblem, flatbufferVectorsProblem } from "./batch-bounds.ts";
import { BATCH_CHECKSUM_KEY, batchChecksum, layoutCrc } from "./batch-checksum.ts";
import { RolloutLogBatchDamaged, RolloutLogNotArrow } from "./errors.ts";

const CONTINUATION = 0xffffffff;
const PREFIX_BYTES = 8;
const ARROW_FILE_MAGIC = "ARROW1";

interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** One record batch and the dictionary messages in force for it: decodable on their own after the schema. */
interface IndexedBatch {
  readonly rows: number;
  /** Where the bytes this batch appended start: the end of the batch before it (or of the schema). */
  readonly start: number;
  /** The dictionary messages, then the record batch message. */
  readonly messages: readonly ByteRange[];
  /** The checksum the record batch message carries (batch-checksum.ts); undefined when it carries none. */
  readonly checksum: string | undefined;
  /** CRC-32 of the batch's declared layout, as read from its header. */
  readonly layoutCrc: number;
  readonly bodyLength: number;
}

interface StreamIndex {
  readonly file: string;
  readonly schema: ArrowSchema;
  readonly schemaMessage: ByteRange;
  readonly batches: readonly IndexedBatch[];
  /** End of the last complete record batch (or of the schema): the longest prefix that is a valid stream. */
  readonly completeBytes: number;
  readonly fileBytes: number;
  /** Why bytes after `completeBytes` are a crash's cut tail, not part of the stream; undefined when there are none. */
  readonly incompleteTail: string | undefined;
  /** The batch after the last complete one, when its framing or header is damaged; no batch past it is indexed. */
  readonly damaged: RolloutLogBatchDamaged | undefined;
}

function readAt(fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = fs.readSync(fd, out, filled, length - filled, offset + filled);
    if (n === 0) break;
    filled += n;
  }
  return out.subarray(0, filled);
}

/**
 * What stands at an offset. A crash leaves a prefix of one append, so a message the file ends inside is `cut`;
 * one that lies wholly inside the file and still cannot be read was damaged after it was written.
 */
type Framed =
  | { readonly kind: "message"; readonly message: Message; readonly range: ByteRange }
  | { readonly kind: "end-of-stream" }
  | { readonly kind: "cut"; readonly reason: string }
  | { readonly kind: "damaged"; readonly reason: string };

/** Reads `length` bytes at `offset` (fewer at the end of the data). */
type ReadAt = (offset: number, length: number) => Uint8Array;

/** How much of a tail is read at a time when scanning it. */
const SCAN_BYTES = 1 << 16;

/** Whether every byte from `offset` to the end is zero; stops at the first one that is not. */
function onlyZerosFrom(read: ReadAt, offset: number, fileBytes: number): boolean {
  for (let at = offset; at < fileBytes; at += SCAN_BYTES) {
    if (read(at, Math.min(SCAN_BYTES, fileBytes - at)).some((b) => b !== 0)) return false;
  }
  return true;
}

/** Arrow pads every message to a multiple of this, so each one starts at such an offset. */
const MESSAGE_ALIGNMENT = 8;

/** The offset of the first whole, readable message after the one at `offset`, if any. */
function messageAfter(read: ReadAt, offset: number, fileBytes: number): number | undefined {
  for (let chunk = offset + MESSAGE_ALIGNMENT; chunk < fileBytes; chunk += SCAN_BYTES) {
    const bytes = read(chunk, Math.min(SCAN_BYTES, fileBytes - chunk));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let at = 0; at + 4 <= bytes.length; at += MESSAGE_ALIGNMENT) {
      if (view.getUint32(at, true) === CONTINUATION && readMessage(read, chunk + at, fileBytes).kind === "message") return chunk + at;
    }
  }
  return undefined;
}

function readMessage(read: ReadAt, offset: number, fileBytes: number): Framed {
  const prefix = read(offset, PREFIX_BYTES);
  if (prefix.length < PREFIX_BYTES) return { kind: "cut", reason: "incomplete message header" };
  const view = new DataView(prefix.buffer, prefix.byteOffset, PREFIX_BYTES);
  if (view.getUint32(0, true) !== CONTINUATION) {
    // A file system may extend a file before its data lands: a crash then leaves zeros, not a prefix of the append.
    return onlyZerosFrom(read, offset, fileBytes) ? { kind: "cut", reason: "zero bytes where a message should start" } : { kind: "damaged", reason: "no message marker" };
  }
  const metadataBytes = view.getInt32(4, true);
  if (metadataBytes === 0) return { kind: "end-of-stream" };
  if (metadataBytes < 0) return { kind: "damaged", reason: `a negative metadata length (${metadataBytes})` };
  if (offset + PREFIX_BYTES + metadataBytes > fileBytes) return { kind: "cut", reason: "incomplete message metadata" };
  let message: Message;
  try {
    const metadata = read(offset + PREFIX_BYTES, metadataBytes);
    const oversized = flatbufferVectorsProblem(metadata);
    if (oversized !== undefined) return { kind: "damaged", reason: `unreadable message metadata (${oversized})` };
    message = Message.decode(metadata);
    // arrow-js decodes the header lazily; a damaged one (e.g. a 64-bit offset past 2^53) must fail here, not later.
    message.header();
  } catch {
    return { kind: "damaged", reason: "unreadable message metadata" };
  }
  const bodyLength = Number(message.bodyLength);
  if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) return { kind: "damaged", reason: "invalid body length" };
  const length = PREFIX_BYTES + metadataBytes + bodyLength;
  if (offset + length > fileBytes) return { kind: "cut", reason: "incomplete message body" };
  return { kind: "message", message, range: { offset, length } };
}

/** Why a batch message's declared counts exceed its body, checked before anything is allocated from them. */
function declaredBeyondBody(schema: ArrowSchema, message: Message): string | undefined {
  const bodyLength = Number(message.bodyLength);
  if (message.isRecordBatch()) return batchBoundsProblem(schema.fields, message.header(), bodyLength);
  if (message.isDictionaryBatch()) {
    const header = message.header();
    const type = schema.dictionaries.get(header.id);
    if (type === undefined) return `a dictionary batch for id ${header.id}, which no column uses`;
    return batchBoundsProblem([new Field(`dictionary ${header.id}`, type)], header.data, bodyLength);
  }
  return undefined;
}

/** Where the readable stream stops and why, when it stops before the end of the file. */
type Stop = { readonly kind: "cut" | "damaged"; readonly reason: string; readonly at: number };

/**
 * Walks the framing of an open log without reading any body, so indexing costs a few small reads per batch.
 * A broken first message means the file is not a stream at all. A later message the file ends inside is a
 * crash's cut tail; one that fits in the file but cannot be read (a flipped bit in its header or framing)
 * is a damaged batch, reported as such so that nothing cuts it off as if it were a crash's leftover.
 */
export function indexStream(file: string, fd: number): StreamIndex {
  const fileBytes = fs.fstatSync(fd).size;
  const read: ReadAt = (offset, length) => readAt(fd, offset, length);
  const first = readMessage(read, 0, fileBytes);
  if (first.kind !== "message" || !first.message.isSchema()) throw notAStream(file, fd, fileBytes, first);
  const schema: ArrowSchema = first.message.header();
  const batches: IndexedBatch[] = [];
  const dictionaries = new Map<number, ByteRange[]>();
  let completeBytes = first.range.length;
  let offset = completeBytes;
  let stop: Stop | undefined;
  while (offset < fileBytes && stop === undefined) {
    const framed = readMessage(read, offset, fileBytes);
    if (framed.kind === "end-of-stream") {
      if (offset + PREFIX_BYTES < fileBytes) stop = { kind: "damaged", reason: "bytes after the end-of-stream marker", at: offset };
      break;
    }
    if (framed.kind !== "message") {
      const next = framed.kind === "cut" ? messageAfter(read, offset, fileBytes) : undefined;
      // A crash's partial message is the file's last; one with a whole message after it has a damaged length instead.
      stop = next === undefined ? { ...framed, at: offset } : { kind: "damaged", reason: `${framed.reason}, yet a whole message follows at byte ${next}`, at: offset };
      break;
    }
    const { message, range } = framed;
    const oversized = declaredBeyondBody(schema, message);
    if (oversized !== undefined) stop = { kind: "damaged", reason: oversized, at: offset };
    else if (message.isDictionaryBatch()) {
      const header = message.header();
      const chain = header.isDelta ? (dictionaries.get(header.id) ?? []) : [];
      dictionaries.set(header.id, [...chain, range]);
    } else if (message.isRecordBatch()) {
      batches.push(indexedBatch(message, completeBytes, [...[...dictionaries.values()].flat(), range]));
      completeBytes = range.offset + range.length;
    } else stop = { kind: "damaged", reason: `an unexpected ${message.isSchema() ? "second schema" : "unknown"} message`, at: offset };
    offset = range.offset + range.length;
  }
  if (stop === undefined && completeBytes < offset) stop = { kind: "cut", reason: "dictionary messages without their record batch", at: completeBytes };
  return {
    file,
    schema,
    schemaMessage: first.range,
    batches,
    completeBytes,
    fileBytes,
    incompleteTail: stop?.kind === "cut" ? `${stop.reason} at byte ${stop.at}` : undefined,
    damaged:
      stop?.kind === "damaged"
        ? new RolloutLogBatchDamaged({ file, batch: batches.length, offset: completeBytes, end: fileBytes, reason: `${stop.reason} (message at byte ${stop.at})` })
        : undefined,
  };
}

function indexedBatch(message: Message<MessageHeader.RecordBatch>, start: number, messages: readonly ByteRange[]): IndexedBatch {
  const header = message.header();
  const bodyLength = Number(message.bodyLength);
  return { rows: Number(header.length), start, messages, checksum: message.metadata.get(BATCH_CHECKSUM_KEY), layoutCrc: layoutCrc(header, bodyLength), bodyLength };
}

/** Why a file whose first message is not a readable schema is no rollout log. */
function notAStream(file: string, fd: number, fileBytes: number, first: Framed): RolloutLogNotArrow {
  const head = new TextDecoder().decode(readAt(fd, 0, ARROW_FILE_MAGIC.length));
  const reason =
    fileBytes === 0
      ? "the file is empty"
      : head === ARROW_FILE_MAGIC
        ? "it is an Arrow IPC file (random-access format); the log is an IPC stream"
        : first.kind === "cut" || first.kind === "damaged"
          ? `${first.reason} at byte 0`
          : "it does not start with a schema message";
  return new RolloutLogNotArrow({ file, reason });
}

/** The messages of batch `i`, read and checked against the checksum it carries; RolloutLogBatchDamaged when they differ. */
function verifiedMessages(fd: number, index: StreamIndex, i: number): Uint8Array[] {
  const batch = index.batches[i]!;
  const messages = batch.messages.map((r) => readAt(fd, r.offset, r.length));
  const last = batch.messages.at(-1)!;
  const damaged = (reason: string) => new RolloutLogBatchDamaged({ file: index.file, batch: i, offset: batch.start, end: last.offset + last.length, reason });
  if (batch.checksum === undefined) throw damaged(`its record batch message carries no '${BATCH_CHECKSUM_KEY}'`);
  const record = messages.at(-1)!;
  const computed = batchChecksum(batch.layoutCrc, messages.slice(0, -1), record.subarray(record.length - batch.bodyLength));
  if (computed !== batch.checksum) throw damaged(`CRC-32 ${computed} differs from the ${batch.checksum} written with it`);
  return messages;
}

/** Checks batch `i` against its checksum without decoding it. */
export function verifyIndexedBatch(fd: number, index: StreamIndex, i: number): void {
  verifiedMessages(fd, index, i);
}

/** Decodes batch `i`, verified first, by replaying schema + its dictionaries + the batch as a tiny stream. */
export function readIndexedBatch(fd: number, index: StreamIndex, i: number): RecordBatch {
  const parts = [readAt(fd, index.schemaMessage.offset, index.schemaMessage.length), ...verifiedMessages(fd, index, i)];
  const [decoded] = RecordBatchReader.from(Buffer.concat(parts)).readAll();
  return decoded!;
}

function streamBytes(schema: ArrowSchema, batch: RecordBatch | undefined): Uint8Array {
  const writer = new RecordBatchStreamWriter();
  if (batch === undefined) writer.reset(undefined, schema);
  else writer.write(batch);
  writer.finish();
  const bytes = writer.toUint8Array(true);
  return bytes.subarray(0, bytes.length - PREFIX_BYTES); // drop the end-of-stream marker
}

/** The schema message that starts a log. */
export function encodeSchemaMessage(schema: ArrowSchema): Uint8Array {
  return streamBytes(schema, undefined);
}

/**
 * The bytes one batch appends to a log: its dictionaries (as replacements, so a batch needs no earlier
 * batch's dictionary) and the record batch, whose message carries the batch's checksum.
 */
export function encodeBatchMessages(schemaMessage: Uint8Array, batch: RecordBatch): Uint8Array {
  return withChecksum(batchMessages(schemaMessage, batch));
}

/**
 * The batch's messages without a checksum. The batch is written as a stream of its own and the schema
 * message stripped; it must be byte-identical to the log's, or the result would not continue the log.
 */
export function batchMessages(schemaMessage: Uint8Array, batch: RecordBatch): Uint8Array {
  const bytes = streamBytes(batch.schema, batch);
  const head = bytes.subarray(0, schemaMessage.length);
  if (!Buffer.from(head.buffer, head.byteOffset, head.length).equals(schemaMessage)) {
    throw new Error("internal: a batch's schema message differs from the log's schema message");
  }
  return bytes.subarray(schemaMessage.length);
}

/** The messages of one batch with its record batch message re-framed to carry the batch's checksum. */
export function withChecksum(bytes: Uint8Array): Uint8Array {
  const read: ReadAt = (offset, length) => bytes.subarray(offset, offset + length);
  const dictionaries: Uint8Array[] = [];
  for (let offset = 0; ; ) {
    const framed = readMessage(read, offset, bytes.length);
    if (framed.kind !== "message") throw new Error(`internal: the encoded batch has no record batch message (${framed.kind})`);
    const { message, range } = framed;
    const messageBytes = read(range.offset, range.length);
    if (!message.isRecordBatch()) {
      dictionaries.push(messageBytes);
      offset += range.length;
      continue;
    }
    const body = messageBytes.subarray(range.length - Number(message.bodyLength));
    const checksum = batchChecksum(layoutCrc(message.header(), body.length), dictionaries, body);
    const stamped = new Message(message.bodyLength, message.version, message.headerType, message.header(), new Map([[BATCH_CHECKSUM_KEY, checksum]]));
    return Buffer.concat([...dictionaries, framedMessage(Message.encode(stamped)), body]);
  }
}

/** Continuation marker, metadata length and the flatbuffer padded so that the body starts 8-byte aligned (as arrow-js frames it). */
function framedMessage(flatbuffer: Uint8Array): Uint8Array {
  const padded = Math.ceil((PREFIX_BYTES + flatbuffer.length) / 8) * 8;
  const out = new Uint8Array(padded);
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTINUATION, true);
  view.setInt32(4, padded - PREFIX_BYTES, true);
  out.set(flatbuffer, PREFIX_BYTES);
  return out;
}
