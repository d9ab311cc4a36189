/** What can go wrong loading a pipeline file; each error names the file and, where known, the field. */
import { Schema } from "effect";

/** One field of a pipeline that does not fit the schema. `path` is dotted with array indices, e.g. `rewards.1.weight`. */
export const FieldIssue = Schema.Struct({
  /** The file that set the value (a file it extends, when inherited). */
  file: Schema.String,
  path: Schema.String,
  expected: Schema.String,
  /** The value found, as JSON, or "nothing" when the key is absent. */
  found: Schema.String,
});
export type FieldIssue = typeof FieldIssue.Type;

/** A cross-field rule of a resolved pipeline that does not hold, with how to fix it. */
export const InvariantViolation = Schema.Struct({
  file: Schema.String,
  path: Schema.String,
  problem: Schema.String,
  fix: Schema.String,
});
export type InvariantViolation = typeof InvariantViolation.Type;

export class PipelineFileError extends Schema.TaggedError<PipelineFileError>()("PipelineFileError", {
  file: Schema.String,
  reason: Schema.String,
  /** The pipeline file whose `extends` named this one. */
  extendedFrom: Schema.optionalKey(Schema.String),
}) {
  override get message(): string {
    const from = this.extendedFrom === undefined ? "" : ` (extended from ${this.extendedFrom})`;
    return `cannot read pipeline file ${this.file}${from}: ${this.reason}`;
  }
}

export class PipelineYamlError extends Schema.TaggedError<PipelineYamlError>()("PipelineYamlError", {
  file: Schema.String,
  line: Schema.Number,
  column: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.file}:${this.line}:${this.column}: not valid YAML: ${this.reason}`;
  }
}

export class PipelineExtendsCycle extends Schema.TaggedError<PipelineExtendsCycle>()("PipelineExtendsCycle", {
  /** The files in extends order, ending with the file that closes the cycle. */
  chain: Schema.Array(Schema.String),
}) {
  override get message(): string {
    return `pipeline files extend each other in a cycle: ${this.chain.join(" -> ")}; remove one of these extends`;
  }
}

export class PipelineFieldError extends Schema.TaggedError<PipelineFieldError>()("PipelineFieldError", {
  /** The file that was loaded (issues name the file each value came from). */
  file: Schema.String,
  issues: Schema.Array(FieldIssue),
}) {
  override get message(): string {
    const lines = this.issues.map((issue) => `  ${issue.file}: ${issue.path}: expected ${issue.expected}, found ${issue.found}`);
    return [`invalid pipeline ${this.file}:`, ...lines].join("\n");
  }
}

export class PipelineInvariantError extends Schema.TaggedError<PipelineInvariantError>()("PipelineInvariantError", {
  file: Schema.String,
  violations: Schema.Array(InvariantViolation),
}) {
  override get message(): string {
    const lines = this.violations.map((v) => `  ${v.file}: ${v.path}: ${v.problem}; fix: ${v.fix}`);
    return [`inconsistent pipeline ${this.file}:`, ...lines].join("\n");
  }
}

export type PipelineLoadError = PipelineFileError | PipelineYamlError | PipelineExtendsCycle | PipelineFieldError | PipelineInvariantError;
