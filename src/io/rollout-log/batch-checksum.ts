/**
 * Per-batch checksums (format 3). Framing and declared sizes (batch-bounds.ts) catch a cut or a header that
 * overstates its body, but a flipped bit inside a body decodes to a wrong value without any sign. So every
 * record batch message carries, in its custom metadata, a CRC-32 over everything the batch decodes from:
 *
 *   layout       JSON text of [bodyLength, rows, field nodes [length, nullCount], buffers [offset, length]]
 *   dictionaries each dictionary message in force for the batch, whole (the writer gives every batch its own)
 *   body         the record batch's body bytes
 *
 * The flatbuffer header itself cannot hold a checksum of its own bytes, so the header enters as its decoded
 * layout: a flip that changes a count or a buffer region changes the layout text, and one that breaks the
 * flatbuffer fails decoding at indexing. The checksum lives in the message, not in a sidecar file, so a batch
 * and its checksum are written (and fsync'd) in one write and any Arrow reader still reads the stream.
 */
import { crc32 } from "node:zlib";
import type { BatchHeader } from "./batch-bounds.ts";

/** Key of the record batch message's custom metadata holding the checksum: 8 lower-case hex digits. */
export const BATCH_CHECKSUM_KEY = "advgrpo.batch_crc32";

const layoutText = (header: BatchHeader, bodyLength: number): string =>
  JSON.stringify([bodyLength, header.length, header.nodes.map((n) => [n.length, n.nullCount]), header.buffers.map((b) => [b.offset, b.length])]);

/** CRC-32 of the layout: the running value the dictionaries and the body continue. */
export const layoutCrc = (header: BatchHeader, bodyLength: number): number => crc32(layoutText(header, bodyLength));

/** The checksum of a batch, continuing `layoutCrc` over its dictionary messages and its body, as stored. */
export const batchChecksum = (layout: number, dictionaries: readonly Uint8Array[], body: Uint8Array): string => {
  let crc = layout;
  for (const message of dictionaries) crc = crc32(message, crc);
  return crc32(body, crc).toString(16).padStart(8, "0");
};
