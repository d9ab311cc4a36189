/**
 * A scored group on the wire: one Arrow IPC stream (schema, dictionaries, one record batch) in the rollout
 * log's own schema and framing, written as the log writes a batch, so a group is readable by any Arrow
 * implementation, the learner's log gets exactly the columns a worker sent, and the batch carries the log's
 * CRC-32 (format 3, batch-checksum.ts): a byte changed on the way, which Arrow would decode as another float,
 * is refused by that checksum. Differences from a log batch: token columns (cls, patches) are always present
 * because the learner's discriminator steps on them, the PNG is always written (the learner's log re-encodes
 * it from the decoded pixels, which round-trip exactly through 8-bit PNG), and `advantage` is NaN: group
 * normalisation needs the whole epoch, which only the learner sees.
 */
import { decodePng, encodePng } from "../io/png.ts";
import { decodeBatch } from "../io/rollout-log/decode.ts";
import { encodeBatch, validateRow } from "../io/rollout-log/encode.ts";
import { RolloutLogBatchDamaged, RolloutLogNotArrow } from "../io/rollout-log/errors.ts";
import { encodeBatchMessages, encodeSchemaMessage, indexStream, readIndexedBatch } from "../io/rollout-log/ipc-stream.ts";
import { checkColumns, decodeMetadata, rolloutLogSchema, type RolloutLogMetadata } from "../io/rollout-log/schema.ts";
import type { ScoredRollout } from "../rollout/rollout.ts";
import { RolloutMessageInvalid } from "./errors.ts";

/** What both ends agree on; `tensorSizes.patchTokens` must be set (tokens always travel). */
export type WireMetadata = RolloutLogMetadata;

export const encodeGroup = (metadata: WireMetadata, rows: readonly ScoredRollout[]): Uint8Array => {
  const schema = rolloutLogSchema(metadata);
  const advantaged = rows.map((r) => ({ ...r, advantage: Number.NaN }));
  advantaged.forEach((row, i) => validateRow("rollout message", metadata, row, `rows[${i}]`));
  const pngs = rows.map((r, i) => encodePng({ data: r.image, height: r.imageHeight, width: r.imageWidth }, `rows[${i}].image`));
  const schemaMessage = encodeSchemaMessage(schema);
  const batch = encodeBatchMessages(schemaMessage, encodeBatch(schema, metadata, advantaged, pngs));
  // A plain Uint8Array, not a Buffer: a Buffer's slice() is a view, which callers copying a message would not expect.
  const bytes = new Uint8Array(schemaMessage.length + batch.length);
  bytes.set(schemaMessage);
  bytes.set(batch, schemaMessage.length);
  return bytes;
};

/**
 * Reads one message back into scored rows, checking it against what the learner expects: any Arrow
 * implementation could have written it, so every column is checked before a row is trusted.
 */
export const decodeGroup = (source: string, bytes: Uint8Array, expected: WireMetadata): ScoredRollout[] => {
  const fail = (reason: string): never => {
    throw new RolloutMessageInvalid({ message: `${source}: ${reason}` });
  };
  let index;
  try {
    index = indexStream(source, bytes);
  } catch (e) {
    return fail(`not an Arrow IPC stream (${e instanceof RolloutLogNotArrow ? e.reason : (e as Error).message})`);
  }
  if (index.damaged) fail(`damaged: ${index.damaged.reason}`);
  if (index.incompleteTail) fail(`cut short: ${index.incompleteTail}`);
  if (index.batches.length !== 1) fail(`expected exactly one record batch, found ${index.batches.length}`);
  let batch;
  try {
    batch = readIndexedBatch(bytes, index, 0);
  } catch (e) {
    return fail(e instanceof RolloutLogBatchDamaged ? `damaged: ${e.reason}` : `unreadable record batch (${(e as Error).message})`);
  }
  let metadata: RolloutLogMetadata;
  try {
    metadata = decodeMetadata(source, batch.schema.metadata);
    checkColumns(source, batch.schema, rolloutLogSchema(metadata));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (metadata.runId !== expected.runId) fail(`run '${metadata.runId}', expected '${expected.runId}'`);
  // an absent cleanLatents is false (the key is written only when true)
  const layout = (m: WireMetadata) => ({ rewardComponents: m.rewardComponents, tensorSizes: m.tensorSizes, latentDtype: m.latentDtype, cleanLatents: m.cleanLatents ?? false });
  const [found, wanted] = [layout(metadata), layout(expected)];
  for (const key of Object.keys(found) as (keyof typeof found)[]) {
    if (JSON.stringify(found[key]) !== JSON.stringify(wanted[key])) fail(`${key} ${JSON.stringify(found[key])}, expected ${JSON.stringify(wanted[key])}`);
  }
  let recorded;
  try {
    recorded = decodeBatch(source, batch, metadata, Array.from({ length: batch.numRows }, (_, i) => i));
  } catch (e) {
    return fail(`unreadable rows (${(e as Error).message})`);
  }
  return recorded.map(({ png, advantage, cls, patches, ...row }, i) => {
    if (!Number.isNaN(advantage)) fail(`rows[${i}].advantage is ${advantage}; a worker sends NaN (the learner normalises)`);
    const image = (() => {
      try {
        return decodePng(png, `${source} rows[${i}].png`);
      } catch (e) {
        return fail((e as Error).message);
      }
    })();
    return { ...row, cls: cls!, patches: patches!, image: image.data, imageHeight: image.height, imageWidth: image.width };
  });
};
