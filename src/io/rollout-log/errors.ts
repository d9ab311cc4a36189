import { Schema } from "effect";

/** The file is not an Arrow IPC stream (or its first message is not a schema). */
export class RolloutLogNotArrow extends Schema.TaggedError<RolloutLogNotArrow>()("RolloutLogNotArrow", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `'${this.file}' is not an Arrow rollout log: ${this.reason}`;
  }
}

/**
 * The file ends inside a message (or in zero bytes), as a crash mid-write leaves it. Everything before
 * `offset` is complete; the reader returns that part and this value as a warning, or throws it in strict mode.
 */
export class RolloutLogTruncated extends Schema.TaggedError<RolloutLogTruncated>()("RolloutLogTruncated", {
  file: Schema.String,
  /** Byte offset where the incomplete tail starts (= bytes that are complete). */
  offset: Schema.Number,
  fileBytes: Schema.Number,
  completeRows: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return (
      `'${this.file}' is truncated at byte ${this.offset} of ${this.fileBytes} (${this.reason}); ` +
      `the ${this.completeRows} rows before it are complete`
    );
  }
}

/**
 * A complete batch whose bytes differ from those its checksum was computed over, or whose framing or header
 * cannot be read although its bytes are there (a flipped bit on disk, a bad copy): its rows cannot be trusted,
 * and nothing after it is read past it as if it were sound.
 */
export class RolloutLogBatchDamaged extends Schema.TaggedError<RolloutLogBatchDamaged>()("RolloutLogBatchDamaged", {
  file: Schema.String,
  /** Index of the record batch in the file, from 0. */
  batch: Schema.Number,
  /** Bytes [offset, end) the batch appended: its dictionaries and its record batch. */
  offset: Schema.Number,
  end: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return `'${this.file}' record batch ${this.batch} (bytes ${this.offset}..${this.end}) is damaged: ${this.reason}`;
  }
}

/** A column the rollout log format requires is absent from the file's schema. */
export class RolloutLogMissingColumn extends Schema.TaggedError<RolloutLogMissingColumn>()("RolloutLogMissingColumn", {
  file: Schema.String,
  column: Schema.String,
}) {
  override get message() {
    return `'${this.file}' has no column '${this.column}', which the rollout log format requires`;
  }
}

/** A column is present with a different Arrow type than the format (and the file's own metadata) say. */
export class RolloutLogColumnType extends Schema.TaggedError<RolloutLogColumnType>()("RolloutLogColumnType", {
  file: Schema.String,
  column: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `'${this.file}' column '${this.column}' has type ${this.found}, expected ${this.expected}`;
  }
}

/** A schema-metadata key is missing, unreadable, or (on resume) differs from what the writer was opened with. */
export class RolloutLogMetadataMismatch extends Schema.TaggedError<RolloutLogMetadataMismatch>()(
  "RolloutLogMetadataMismatch",
  {
    file: Schema.String,
    key: Schema.String,
    expected: Schema.String,
    found: Schema.String,
  },
) {
  override get message() {
    return `'${this.file}' metadata '${this.key}' is ${this.found}, expected ${this.expected}`;
  }
}

/** A row handed to the writer does not fit the log's layout; nothing of that append call is written. */
export class RolloutLogRowInvalid extends Schema.TaggedError<RolloutLogRowInvalid>()("RolloutLogRowInvalid", {
  file: Schema.String,
  /** Path of the offending value, e.g. `rows[3].steps[1].x`. */
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `cannot record into '${this.file}': ${this.field} is ${this.found}, expected ${this.expected}`;
  }
}

/**
 * A value that the log keeps only as a finite number is NaN or infinite (finite.ts says which columns allow NaN).
 * Like an invalid row, it rejects its whole append call: nothing of that call is buffered or written.
 */
export class RolloutLogNonFinite extends Schema.TaggedError<RolloutLogNonFinite>()("RolloutLogNonFinite", {
  file: Schema.String,
  /** The log column, e.g. `reward.dino`, `steps.logProb`, `latents`. */
  column: Schema.String,
  /** Path of the value in the append call, e.g. `rows[3].steps[1].logProb`, `rows[0].pooled[17]`. */
  field: Schema.String,
  /** The row's own epoch (from 0), group and member. */
  epoch: Schema.Number,
  groupId: Schema.Number,
  member: Schema.Number,
  value: Schema.Number,
}) {
  override get message() {
    return (
      `cannot record into '${this.file}': column '${this.column}' is ${this.value} in the row of epoch ${this.epoch}, ` +
      `group ${this.groupId}, member ${this.member} (${this.field}); the log keeps only finite values there`
    );
  }
}

/** Writer options that cannot describe a log (sizes, component names, batch size). */
export class RolloutLogInvalidOptions extends Schema.TaggedError<RolloutLogInvalidOptions>()(
  "RolloutLogInvalidOptions",
  {
    file: Schema.String,
    option: Schema.String,
    expected: Schema.String,
    found: Schema.String,
  },
) {
  override get message() {
    return `rollout log '${this.file}': option ${this.option} is ${this.found}, expected ${this.expected}`;
  }
}

/** A fresh run would overwrite an existing log; resuming it must be asked for explicitly. */
export class RolloutLogExists extends Schema.TaggedError<RolloutLogExists>()("RolloutLogExists", {
  file: Schema.String,
}) {
  override get message() {
    return `'${this.file}' already exists; open it with resume: true to continue it, or choose another path`;
  }
}

/** The operating system refused a file operation. */
export class RolloutLogIoError extends Schema.TaggedError<RolloutLogIoError>()("RolloutLogIoError", {
  file: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot ${this.operation} '${this.file}': ${this.reason}`;
  }
}

/** The writer was used after close(). */
export class RolloutLogClosed extends Schema.TaggedError<RolloutLogClosed>()("RolloutLogClosed", {
  file: Schema.String,
}) {
  override get message() {
    return `rollout log '${this.file}' is closed`;
  }
}

export type RolloutLogError =
  | RolloutLogNotArrow
  | RolloutLogTruncated
  | RolloutLogBatchDamaged
  | RolloutLogMissingColumn
  | RolloutLogColumnType
  | RolloutLogMetadataMismatch
  | RolloutLogRowInvalid
  | RolloutLogNonFinite
  | RolloutLogInvalidOptions
  | RolloutLogExists
  | RolloutLogIoError
  | RolloutLogClosed;

/** Runs a file-system call, turning the OS error into a RolloutLogIoError that names the file and the operation. */
export function fileOperation<T>(file: string, operation: string, run: () => T): T {
  try {
    return run();
  } catch (cause) {
    throw new RolloutLogIoError({ file, operation, reason: cause instanceof Error ? cause.message : String(cause) });
  }
}
