/**
 * Every file a pipeline names, checked before any model is built: a missing one fails naming the pipeline
 * field it came from (not only an ENOENT deep inside a loader), and all missing ones are listed at once.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Schema } from "effect";
import type { PipelineConfig } from "./config/schema.ts";

/** [field, path] of every file or folder the pipeline names ("embedded" names none). */
const configuredPaths = (config: PipelineConfig): Array<readonly [string, string]> => [
  ["generator.checkpoint", config.generator.checkpoint],
  ...(["velocityModel", "textEmbeddings", "textEncoder", "tokenizer", "vaeDecoder"] as const).flatMap((key) => {
    const path = config.generator.onnx?.[key];
    return path === undefined ? [] : [[`generator.onnx.${key}`, path] as const];
  }),
  ["prompts.train", config.prompts.train],
  ["prompts.heldOut", config.prompts.heldOut],
  ["references.source", config.references.source],
  ["features.backbone", config.features.backbone],
  ...config.rewards.flatMap((r, i) => (r.kind === "frozen-discriminator" && r.checkpoint !== undefined ? [[`rewards[${i}].checkpoint`, r.checkpoint] as const] : [])),
];

/** Files a pipeline names that are not there, each with its field; relative paths were read from `cwd`. */
class MissingConfiguredFiles extends Schema.TaggedError<MissingConfiguredFiles>()("MissingConfiguredFiles", {
  cwd: Schema.String,
  missing: Schema.Array(Schema.Struct({ field: Schema.String, path: Schema.String })),
}) {
  override get message() {
    return [`files the pipeline names do not exist (relative paths are read from ${this.cwd}):`, ...this.missing.map(({ field, path }) => `  ${field}: ${path}`)].join("\n");
  }
}

export const requireConfiguredFiles = (config: PipelineConfig): void => {
  const missing = configuredPaths(config).filter(([, path]) => path !== "embedded" && !existsSync(path));
  if (missing.length > 0) throw new MissingConfiguredFiles({ cwd: process.cwd(), missing: missing.map(([field, path]) => ({ field, path: resolve(path) })) });
};

/** A file a pipeline field names that cannot be used: the field, then what is wrong with the file. */
export class ConfiguredFileError extends Schema.TaggedError<ConfiguredFileError>()("ConfiguredFileError", {
  field: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.field}: ${this.reason}`;
  }
}

/** Runs a load of the file `field` names; whatever fails is reported under that field. */
export const loadingField = <T>(field: string, load: () => T): T => {
  try {
    return load();
  } catch (error) {
    throw new ConfiguredFileError({ field, reason: error instanceof Error ? error.message : String(error) });
  }
};

/** `error` with the field `from` called `to`: where a command-line flag set that field, the error names the flag the user gave. */
export const withFieldCalled = (error: unknown, from: string, to: string): unknown => {
  if (error instanceof ConfiguredFileError && error.field === from) return new ConfiguredFileError({ field: to, reason: error.reason });
  if (error instanceof MissingConfiguredFiles && error.missing.some((m) => m.field === from)) {
    return new MissingConfiguredFiles({ cwd: error.cwd, missing: error.missing.map((m) => (m.field === from ? { ...m, field: to } : m)) });
  }
  return error;
};
