/**
 * The incremental writer. Rows are buffered and written as one RecordBatch per `batchRows` rows: the batch's
 * messages are appended at the end of the stream in a single write and fsync'd, so a process killed at any
 * point leaves every earlier batch intact and at most one partial message at the tail. Resuming cuts that
 * tail off (it was never a recorded batch) and appends after the last complete batch, once every complete
 * batch has passed its checksum; a damaged one is refused, never cut (RolloutLogBatchDamaged).
 */
import fs from "node:fs";
import nodePath from "node:path";
import { Schema } from "effect";
import type { Schema as ArrowSchema } from "apache-arrow";
import type { AdvantagedRollout } from "../../rollout/rollout.ts";
import { encodeBatch, validateRow } from "./encode.ts";
import type { EncodePng } from "./encode.ts";
import { requireFinite } from "./finite.ts";
import {
  RolloutLogClosed,
  RolloutLogColumnType,
  RolloutLogExists,
  RolloutLogInvalidOptions,
  RolloutLogMetadataMismatch,
  fileOperation,
} from "./errors.ts";
import { encodeBatchMessages, encodeSchemaMessage, indexStream, verifyIndexedBatch } from "./ipc-stream.ts";
import { LatentDtype, MetadataKey, TensorSizes, checkColumns, decodeMetadata, rolloutLogSchema } from "./schema.ts";
import type { RolloutLogMetadata } from "./schema.ts";

export interface RolloutLogWriterOptions {
  readonly runId: string;
  /** Stored as metadata when the log is created; a resumed log keeps its original value. */
  readonly createdAt: string;
  /** The resolved pipeline configuration as JSON text. */
  readonly pipelineConfig: string;
  /** Reward component names; every row's `rewards` must have exactly these keys. */
  readonly rewardComponents: readonly string[];
  readonly tensorSizes: TensorSizes;
  /** How the window's latents are stored. Default float32 (exactly as sampled); float16 halves them and rounds; none leaves them out. */
  readonly latentDtype?: LatentDtype;
  /** Also store each row's final latent (`clean`, in latentDtype; not with latentDtype none). Default false. */
  readonly cleanLatents?: boolean;
  readonly encodePng: EncodePng;
  /** Rows per RecordBatch; a crash loses at most the rows not yet in a batch. Default 64. */
  readonly batchRows?: number;
  /** Continue the log at the path if it exists (it must match these options). Default false: an existing file is an error. */
  readonly resume?: boolean;
  /** fsync after every batch so a batch is durable when append/flush returns. Default true. */
  readonly fsync?: boolean;
}

/** What resuming found in the existing file. */
export interface ResumedLog {
  readonly rows: number;
  readonly batches: number;
  /** Bytes of an incomplete tail (a batch cut by a crash) that were cut off before appending. */
  readonly discardedBytes: number;
}

export interface RolloutLogWriter {
  readonly path: string;
  readonly metadata: RolloutLogMetadata;
  /** Rows in complete batches in the file, resumed rows included. */
  readonly rowsWritten: number;
  /** Rows appended but not yet written (fewer than batchRows until flush/close). */
  readonly rowsBuffered: number;
  /** Set when the writer continued an existing log. */
  readonly resumed: ResumedLog | undefined;
  /**
   * Validates all rows first (an invalid row, or a NaN or infinity where the log keeps finite values, rejects
   * the whole call), then writes every full batch.
   */
  append(rows: readonly AdvantagedRollout[]): void;
  /** Writes the buffered rows as a (possibly short) batch. */
  flush(): void;
  /** Flushes and closes the file; later calls do nothing. */
  close(): void;
}

const DEFAULT_BATCH_ROWS = 64;

function checkOptions(file: string, options: RolloutLogWriterOptions): RolloutLogMetadata {
  const invalid = (option: string, expected: string, found: unknown): never => {
    throw new RolloutLogInvalidOptions({ file, option, expected, found: JSON.stringify(found) ?? String(found) });
  };
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1) invalid("batchRows", "a positive integer", batchRows);
  const names = options.rewardComponents;
  if (names.some((n) => n.length === 0) || new Set(names).size !== names.length) {
    invalid("rewardComponents", "distinct non-empty names", names);
  }
  if (!Schema.is(TensorSizes)(options.tensorSizes)) {
    invalid("tensorSizes", "{ latent: int > 0, feature: int > 0, patchTokens: int > 0 | null }", options.tensorSizes);
  }
  const latentDtype = options.latentDtype ?? "float32";
  if (!Schema.is(LatentDtype)(latentDtype)) invalid("latentDtype", "float32, float16 or none", latentDtype);
  const cleanLatents = options.cleanLatents ?? false;
  if (cleanLatents && latentDtype === "none") invalid("cleanLatents", "false with latentDtype none (a log without latents keeps no final latent either)", cleanLatents);
  const { runId, createdAt, pipelineConfig, rewardComponents, tensorSizes } = options;
  return { runId, createdAt, pipelineConfig, rewardComponents, tensorSizes, latentDtype, ...(cleanLatents ? { cleanLatents } : {}) };
}

const abbreviate = (text: string) => (text.length > 120 ? `${text.slice(0, 117)}...` : text);

/** A resumed log must be the same run with the same layout; createdAt is the only key allowed to differ. */
function checkSameLog(file: string, wanted: RolloutLogMetadata, found: RolloutLogMetadata, schema: ArrowSchema): void {
  const pairs: [string, string, string][] = [
    [MetadataKey.runId, wanted.runId, found.runId],
    [MetadataKey.pipeline, wanted.pipelineConfig, found.pipelineConfig],
    [MetadataKey.rewardComponents, JSON.stringify(wanted.rewardComponents), JSON.stringify(found.rewardComponents)],
    [MetadataKey.tensorSizes, JSON.stringify(wanted.tensorSizes), JSON.stringify(found.tensorSizes)],
    [MetadataKey.latentDtype, wanted.latentDtype, found.latentDtype],
    [MetadataKey.cleanLatents, String(wanted.cleanLatents ?? false), String(found.cleanLatents ?? false)],
  ];
  for (const [key, expected, actual] of pairs) {
    if (expected !== actual) {
      throw new RolloutLogMetadataMismatch({ file, key, expected: abbreviate(expected), found: abbreviate(actual) });
    }
  }
  const expectedSchema = rolloutLogSchema(found);
  checkColumns(file, schema, expectedSchema);
  // Appended batches carry this build's columns in this build's order, so the file must have exactly those.
  const extra = schema.fields.find((f, i) => expectedSchema.fields[i]?.name !== f.name);
  if (extra !== undefined) {
    throw new RolloutLogColumnType({ file, column: extra.name, expected: "no such column at this position", found: String(extra.type) });
  }
}

interface OpenedFile {
  readonly fd: number;
  readonly metadata: RolloutLogMetadata;
  readonly position: number;
  readonly resumed: ResumedLog | undefined;
}

function writeAt(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function createLog(file: string, metadata: RolloutLogMetadata, schemaMessage: Uint8Array, durable: boolean): OpenedFile {
  const fd = fileOperation(file, "create", () => fs.openSync(file, "wx"));
  fileOperation(file, "write the schema of", () => {
    writeAt(fd, schemaMessage, 0);
    if (durable) {
      fs.fsyncSync(fd);
      // The new directory entry must survive a crash too, or the fsync'd file could vanish with it.
      const dir = fs.openSync(nodePath.dirname(nodePath.resolve(file)), "r");
      fs.fsyncSync(dir);
      fs.closeSync(dir);
    }
  });
  return { fd, metadata, position: schemaMessage.length, resumed: undefined };
}

function resumeLog(file: string, wanted: RolloutLogMetadata, durable: boolean): OpenedFile {
  const fd = fileOperation(file, "open", () => fs.openSync(file, "r+"));
  try {
    const index = indexStream(file, fd);
    const found = decodeMetadata(file, index.schema.metadata);
    checkSameLog(file, wanted, found, index.schema);
    // Appending after a damaged batch would make it part of the run's record; the caller resumes from before it.
    for (const i of index.batches.keys()) verifyIndexedBatch(fd, index, i);
    if (index.damaged !== undefined) throw index.damaged;
    const discardedBytes = index.fileBytes - index.completeBytes;
    if (discardedBytes > 0) {
      fileOperation(file, "cut the incomplete tail of", () => {
        fs.ftruncateSync(fd, index.completeBytes);
        if (durable) fs.fsyncSync(fd);
      });
    }
    const rows = index.batches.reduce((n, b) => n + b.rows, 0);
    return { fd, metadata: found, position: index.completeBytes, resumed: { rows, batches: index.batches.length, discardedBytes } };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** Opens a new log at `path`, or continues an existing one with `resume: true`. */
export function openRolloutLog(path: string, options: RolloutLogWriterOptions): RolloutLogWriter {
  const wanted = checkOptions(path, options);
  return new BatchingWriter(path, openLogFile(path, wanted, options), options);
}

/** Creates the file, or continues the one there when resuming was asked for; an existing file is never overwritten. */
function openLogFile(path: string, wanted: RolloutLogMetadata, options: RolloutLogWriterOptions): OpenedFile {
  const durable = options.fsync ?? true;
  const exists = fs.existsSync(path);
  if (exists && options.resume !== true) throw new RolloutLogExists({ file: path });
  return exists ? resumeLog(path, wanted, durable) : createLog(path, wanted, encodeSchemaMessage(rolloutLogSchema(wanted)), durable);
}

/** Buffers checked rows and appends every full batch to the opened file as one write. */
class BatchingWriter implements RolloutLogWriter {
  readonly path: string;
  readonly metadata: RolloutLogMetadata;
  readonly resumed: ResumedLog | undefined;
  readonly #fd: number;
  readonly #schema: ArrowSchema;
  readonly #schemaMessage: Uint8Array;
  readonly #batchRows: number;
  readonly #durable: boolean;
  readonly #encodePng: EncodePng;
  #position: number;
  #rowsWritten: number;
  #buffer: AdvantagedRollout[] = [];
  #closed = false;

  constructor(path: string, opened: OpenedFile, options: RolloutLogWriterOptions) {
    this.path = path;
    this.metadata = opened.metadata;
    this.resumed = opened.resumed;
    this.#fd = opened.fd;
    // A resumed log's metadata (its createdAt) is the file's, so the schema is rebuilt from it.
    this.#schema = rolloutLogSchema(opened.metadata);
    this.#schemaMessage = encodeSchemaMessage(this.#schema);
    this.#batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    this.#durable = options.fsync ?? true;
    this.#encodePng = options.encodePng;
    this.#position = opened.position;
    this.#rowsWritten = opened.resumed?.rows ?? 0;
  }

  get rowsWritten(): number {
    return this.#rowsWritten;
  }

  get rowsBuffered(): number {
    return this.#buffer.length;
  }

  append(rows: readonly AdvantagedRollout[]): void {
    this.#ensureOpen();
    rows.forEach((row, i) => {
      validateRow(this.path, this.metadata, row, `rows[${i}]`);
      requireFinite(this.path, this.metadata, row, `rows[${i}]`);
    });
    this.#buffer.push(...rows);
    while (this.#buffer.length >= this.#batchRows) this.#writeBatch(this.#batchRows);
  }

  flush(): void {
    this.#ensureOpen();
    if (this.#buffer.length > 0) this.#writeBatch(this.#buffer.length);
  }

  close(): void {
    if (this.#closed) return;
    try {
      if (this.#buffer.length > 0) this.#writeBatch(this.#buffer.length);
    } finally {
      this.#closed = true;
      fs.closeSync(this.#fd);
    }
  }

  // Rows leave the buffer only once their batch is on disk, so a failed write (disk full) loses nothing.
  #writeBatch(count: number): void {
    const rows = this.#buffer.slice(0, count);
    const pngs = rows.map((r) => this.#encodePng(r.image, r.imageHeight, r.imageWidth));
    const bytes = encodeBatchMessages(this.#schemaMessage, encodeBatch(this.#schema, this.metadata, rows, pngs));
    fileOperation(this.path, "append a batch to", () => {
      writeAt(this.#fd, bytes, this.#position);
      if (this.#durable) fs.fsyncSync(this.#fd);
    });
    this.#position += bytes.length;
    this.#rowsWritten += rows.length;
    this.#buffer = this.#buffer.slice(count);
  }

  #ensureOpen(): void {
    if (this.#closed) throw new RolloutLogClosed({ file: this.path });
  }
}
