/**
 * Pipeline file -> resolved configuration: read YAML, follow `extends:` to its ancestors, merge
 * (child over parent), decode with defaults filled in and unknown keys refused, then check the
 * cross-field invariants.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Schema } from "effect";
import { parseDocument } from "yaml";
import { PipelineExtendsCycle, PipelineFieldError, PipelineFileError, PipelineInvariantError, PipelineYamlError } from "./errors.ts";
import type { PipelineLoadError } from "./errors.ts";
import { checkInvariants } from "./invariants.ts";
import { dottedPath, fieldIssues } from "./issues.ts";
import { type FileLayer, isPlainObject, mergeLayers, originOf } from "./merge.ts";
import { PipelineConfig, strictness } from "./schema.ts";

export const defaultPresetsDir = fileURLToPath(new URL("../../../pipelines/presets/", import.meta.url));

export interface LoadOptions {
  /** Where preset names in `extends:` are looked up; pipelines/presets/ by default. */
  readonly presetsDir?: string;
}

interface FileRef {
  readonly file: string;
  readonly extendedFrom?: string;
  readonly preset?: string;
}

const availablePresets = (presetsDir: string): string =>
  !existsSync(presetsDir)
    ? "none, the folder does not exist"
    : readdirSync(presetsDir, { withFileTypes: true })
        .filter((entry) => entry.isFile() && entry.name.endsWith(".yaml"))
        .map((entry) => entry.name.replace(/\.yaml$/, ""))
        .join(", ");

const missingReason = (ref: FileRef, presetsDir: string): string =>
  ref.preset === undefined ? "no such file" : `no preset named "${ref.preset}" in ${presetsDir} (available: ${availablePresets(presetsDir)})`;

const readText = (ref: FileRef, presetsDir: string) =>
  Effect.try({
    try: () => readFileSync(ref.file, "utf8"),
    catch: (cause) =>
      new PipelineFileError({
        file: ref.file,
        reason: (cause as NodeJS.ErrnoException).code === "ENOENT" ? missingReason(ref, presetsDir) : String(cause),
        ...(ref.extendedFrom === undefined ? {} : { extendedFrom: ref.extendedFrom }),
      }),
  });

const notAMapping = (file: string, found: unknown) =>
  new PipelineFieldError({
    file,
    issues: [{ file, path: dottedPath([]), expected: "a mapping of sections (run, sampler, learner, ...)", found: JSON.stringify(found) }],
  });

const parseYaml = (file: string, text: string) =>
  Effect.gen(function* () {
    const document = parseDocument(text);
    const [error] = document.errors;
    if (error !== undefined) {
      const position = error.linePos?.[0];
      return yield* new PipelineYamlError({ file, line: position?.line ?? 0, column: position?.col ?? 0, reason: error.message.split("\n")[0]! });
    }
    // A file of nothing (or only comments) is almost always a wrong path or an unsaved editor buffer;
    // running 100 epochs of defaults from it would hide that.
    if (document.contents === null) {
      return yield* new PipelineFileError({ file, reason: "the file is empty; a pipeline file sets at least one key (e.g. extends: <preset>)" });
    }
    // yaml refuses alias expansion past its limit (a "billion laughs" file) by throwing; name the file.
    const content: unknown = yield* Effect.try({
      try: () => document.toJS(),
      catch: (cause) => new PipelineYamlError({ file, line: 0, column: 0, reason: (cause as Error).message }),
    });
    if (!isPlainObject(content)) return yield* notAMapping(file, content);
    return content;
  });

/** A relative path when it looks like one, otherwise a preset name. */
const resolveExtends = (target: unknown, from: string, presetsDir: string) =>
  Effect.gen(function* () {
    if (typeof target !== "string" || target.length === 0) {
      return yield* new PipelineFieldError({
        file: from,
        issues: [{ file: from, path: "extends", expected: "a relative path to a pipeline file or a preset name", found: JSON.stringify(target) }],
      });
    }
    const isPath = /\.ya?ml$/.test(target) || target.includes("/");
    const ref: FileRef = isPath
      ? { file: resolve(dirname(from), target), extendedFrom: from }
      : { file: join(presetsDir, `${target}.yaml`), extendedFrom: from, preset: target };
    return ref;
  });

/** The file and its ancestors, furthest ancestor first. */
const readLayers = (file: string, presetsDir: string) =>
  Effect.gen(function* () {
    const childFirst: Array<FileLayer> = [];
    let next: FileRef | undefined = { file: resolve(file) };
    while (next !== undefined) {
      const seen = childFirst.map((layer) => layer.file);
      if (seen.includes(next.file)) return yield* new PipelineExtendsCycle({ chain: [...seen, next.file] });
      const text: string = yield* readText(next, presetsDir);
      const { extends: parent, ...content }: Readonly<Record<string, unknown>> = yield* parseYaml(next.file, text);
      childFirst.push({ file: next.file, content });
      next = parent === undefined ? undefined : yield* resolveExtends(parent, next.file, presetsDir);
    }
    return childFirst.reverse();
  });

/** Merge, decode and check layers ordered furthest ancestor first; errors name the layer each value came from. */
const resolveLayers = (layers: ReadonlyArray<FileLayer>) =>
  Effect.gen(function* () {
    const loaded = layers[layers.length - 1]!.file;
    const merged = mergeLayers(layers);
    const config = yield* Schema.decodeUnknownEffect(PipelineConfig)(merged, { ...strictness, errors: "all" }).pipe(
      Effect.mapError((error) => new PipelineFieldError({ file: loaded, issues: fieldIssues(error.issue, merged, layers) })),
    );
    const violations = checkInvariants(config).map(({ path, problem, fix }) => ({ file: originOf(layers, path), path: dottedPath(path), problem, fix }));
    if (violations.length > 0) return yield* new PipelineInvariantError({ file: loaded, violations });
    return config;
  });

export const loadPipelineFile = (file: string, options: LoadOptions = {}): Effect.Effect<PipelineConfig, PipelineLoadError> =>
  readLayers(file, options.presetsDir ?? defaultPresetsDir).pipe(Effect.flatMap(resolveLayers));

/**
 * Decode an in-memory pipeline (no `extends`), e.g. the resolved JSON stored in a rollout log's
 * metadata; `source` names it in errors.
 */
export const decodePipelineConfig = (input: unknown, source = "<inline pipeline>"): Effect.Effect<PipelineConfig, PipelineFieldError | PipelineInvariantError> =>
  isPlainObject(input) ? resolveLayers([{ file: source, content: input }]) : Effect.fail(notAMapping(source, input));
