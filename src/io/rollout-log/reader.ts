/**
 * Reads a rollout log back into rows. The framing index finds the complete batches first, so a file cut by
 * a crash still yields every complete batch, and the cut is reported (a warning value, or an error in strict
 * mode) rather than passed over. A batch that fails its checksum, or whose framing or header cannot be read
 * although its bytes are all there, is an error in either mode: it is damage, not a crash's tail.
 */
import fs from "node:fs";
import type { Data, Int32 } from "apache-arrow";
import { decodeBatch } from "./decode.ts";
import type { RecordedRollout } from "./decode.ts";
import { RolloutLogTruncated, fileOperation } from "./errors.ts";
import { indexStream, readIndexedBatch } from "./ipc-stream.ts";
import { checkColumns, decodeMetadata, rolloutLogSchema } from "./schema.ts";
import type { RolloutLogMetadata } from "./schema.ts";

export interface ReadRolloutLogOptions {
  /** Only rows of this epoch. */
  readonly epoch?: number;
  /** Only rows of this group. */
  readonly groupId?: number;
  /** Throw RolloutLogTruncated instead of returning the complete part of a truncated file. Default false. */
  readonly strict?: boolean;
}

export interface RolloutLogContents {
  readonly metadata: RolloutLogMetadata;
  /** The selected rows, in file order. */
  readonly rows: RecordedRollout[];
  /** Rows in the complete batches of the file, before selection. */
  readonly totalRows: number;
  /** Set when the file ends in an incomplete batch; `rows` hold everything before it. */
  readonly truncated: RolloutLogTruncated | undefined;
}

export function readRolloutLog(path: string, options: ReadRolloutLogOptions = {}): RolloutLogContents {
  const fd = fileOperation(path, "open", () => fs.openSync(path, "r"));
  try {
    const index = indexStream(path, fd);
    const metadata = decodeMetadata(path, index.schema.metadata);
    checkColumns(path, index.schema, rolloutLogSchema(metadata));
    const totalRows = index.batches.reduce((n, b) => n + b.rows, 0);
    const truncated =
      index.incompleteTail === undefined
        ? undefined
        : new RolloutLogTruncated({
            file: path,
            offset: index.completeBytes,
            fileBytes: index.fileBytes,
            completeRows: totalRows,
            reason: index.incompleteTail,
          });
    if (truncated !== undefined && options.strict === true) throw truncated;

    const rows: RecordedRollout[] = [];
    for (const i of index.batches.keys()) {
      const batch = readIndexedBatch(fd, index, i);
      const epochs = batch.getChild("epoch")!.data[0] as Data<Int32>;
      const groups = batch.getChild("groupId")!.data[0] as Data<Int32>;
      const selected: number[] = [];
      for (let i = 0; i < batch.numRows; i++) {
        if (options.epoch !== undefined && epochs.values[i] !== options.epoch) continue;
        if (options.groupId !== undefined && groups.values[i] !== options.groupId) continue;
        selected.push(i);
      }
      rows.push(...decodeBatch(path, batch, metadata, selected));
    }
    if (index.damaged !== undefined) throw index.damaged;
    return { metadata, rows, totalRows, truncated };
  } finally {
    fs.closeSync(fd);
  }
}
