/**
 * The Arrow schema of the rollout log (documented column by column in schemas/rollout-log.md) and its
 * schema-level metadata. The schema is a pure function of the metadata, so a reader rebuilds the expected
 * schema from a file's own metadata and checks every column against it.
 */
import {
  Binary,
  Dictionary,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  Map_,
  Schema as ArrowSchema,
  Struct,
  Utf8,
} from "apache-arrow";
import type { DataType } from "apache-arrow";
import { Option, Schema } from "effect";
import { RolloutLogColumnType, RolloutLogMetadataMismatch, RolloutLogMissingColumn } from "./errors.ts";

export const ROLLOUT_LOG_FORMAT = "advgrpo.rollout-log";
// Version 2 stores the SDE window's latents once, as one chain, instead of x and xNext per step.
// Version 3 adds a checksum to every record batch message (batch-checksum.ts).
export const ROLLOUT_LOG_FORMAT_VERSION = 3;

/** Why a log of an older version is refused: what it lacks. */
const OLDER_VERSIONS: Readonly<Record<string, string>> = {
  "1": "it stores x and xNext per step and has no per-batch checksums",
  "2": "its batches carry no checksums, so a damaged batch could not be told from a sound one",
};

export const MetadataKey = {
  format: "advgrpo.format",
  formatVersion: "advgrpo.format_version",
  runId: "advgrpo.run_id",
  createdAt: "advgrpo.created_at",
  pipeline: "advgrpo.pipeline",
  rewardComponents: "advgrpo.reward_components",
  tensorSizes: "advgrpo.tensor_sizes",
  latentDtype: "advgrpo.latent_dtype",
  cleanLatents: "advgrpo.clean_latents",
} as const;

const PositiveInt = Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0));

/** Element counts of the fixed-size tensor columns; fixed for a run by its models. */
export const TensorSizes = Schema.Struct({
  /** C*H*W of one latent of the window's chain. */
  latent: PositiveInt,
  /** D, the feature backbone's token width (pooled and cls). */
  feature: PositiveInt,
  /** N, the number of patch tokens when cls/patches are recorded; null leaves both columns out. */
  patchTokens: Schema.NullOr(PositiveInt),
});
export type TensorSizes = typeof TensorSizes.Type;

const RewardComponents = Schema.Array(Schema.String.check(Schema.isNonEmpty()));

/**
 * How the window's latents are stored: float32 as sampled, rounded to float16 (half the bytes, lossy), or
 * not at all ("none": replay samples them again from the seeds with the epoch's starting weights).
 */
export const LatentDtype = Schema.Literals(["float32", "float16", "none"]);
export type LatentDtype = typeof LatentDtype.Type;

/** Everything a log says about itself; the schema is derived from it. */
export interface RolloutLogMetadata {
  readonly runId: string;
  /** When the log was started, as given by the caller (ISO 8601 recommended); kept on resume. */
  readonly createdAt: string;
  /** The resolved pipeline configuration, as JSON text. */
  readonly pipelineConfig: string;
  /** Reward component names in column order; each is recorded as column `reward.<name>`. */
  readonly rewardComponents: readonly string[];
  readonly tensorSizes: TensorSizes;
  readonly latentDtype: LatentDtype;
  /**
   * Each row also holds its final latent x0 (column `clean`, in latentDtype): a latent generator trained by nft or
   * awm learns from it. Written to the metadata only when true, so other logs keep their layout; absent = false.
   */
  readonly cleanLatents?: boolean;
}

export const rewardColumn = (component: string): string => `reward.${component}`;

const tensor = (size: number, item: Float32 | Float16 = new Float32()) => new FixedSizeList(size, new Field("item", item, false));
const field = (name: string, type: DataType) => new Field(name, type, false);

// Dictionary ids are fixed so that every batch's independently written stream names the same dictionaries.
const RUN_ID_DICTIONARY = 0;
const PROMPT_DICTIONARY = 1;

export const stepType = () =>
  new Struct([
    field("stepIndex", new Int32()),
    field("sigma", new Float64()),
    field("sigmaNext", new Float64()),
    field("logProb", new Float64()),
  ]);

const latentItem = (dtype: "float32" | "float16") => (dtype === "float16" ? new Float16() : new Float32());

/** The window's latents x_s .. x_{s+k} of k consecutive trained steps: step j goes from item j to item j+1. */
export const latentChainType = (sizes: TensorSizes, dtype: "float32" | "float16") =>
  new List(new Field("item", tensor(sizes.latent, latentItem(dtype)), false));

/** The final latent x0 of a row, present when the metadata's cleanLatents is set. */
const cleanLatentType = (sizes: TensorSizes, dtype: "float32" | "float16") => tensor(sizes.latent, latentItem(dtype));

const timingsType = () =>
  new Map_<Utf8, Float64>(
    new Field("entries", new Struct<{ key: Utf8; value: Float64 }>([new Field("key", new Utf8(), false), new Field("value", new Float64(), false)]), false),
  );

/** Arrow schema, in column order, for logs with this metadata. */
export function rolloutLogSchema(metadata: RolloutLogMetadata): ArrowSchema {
  const sizes = metadata.tensorSizes;
  const tokenFields =
    sizes.patchTokens === null
      ? []
      : [field("cls", tensor(sizes.feature)), field("patches", tensor(sizes.patchTokens * sizes.feature))];
  return new ArrowSchema(
    [
      field("runId", new Dictionary(new Utf8(), new Int32(), RUN_ID_DICTIONARY)),
      field("epoch", new Int32()),
      field("policyVersion", new Int32()),
      field("prompt", new Dictionary(new Utf8(), new Int32(), PROMPT_DICTIONARY)),
      field("promptIndex", new Int32()),
      field("groupId", new Int32()),
      field("member", new Int32()),
      field("seed", new Int64()),
      field("steps", new List(new Field("item", stepType(), false))),
      ...(metadata.latentDtype === "none" ? [] : [field("latents", latentChainType(sizes, metadata.latentDtype))]),
      ...(metadata.cleanLatents ? [field("clean", cleanLatentType(sizes, metadata.latentDtype === "float16" ? "float16" : "float32"))] : []),
      ...metadata.rewardComponents.map((name) => field(rewardColumn(name), new Float64())),
      field("reward", new Float64()),
      field("advantage", new Float64()),
      field("discLogitCls", new Float64()),
      field("discLogitPatch", new Float64()),
      field("pooled", tensor(sizes.feature)),
      ...tokenFields,
      field("png", new Binary()),
      field("imageHeight", new Int32()),
      field("imageWidth", new Int32()),
      field("timings", timingsType()),
    ],
    encodeMetadata(metadata),
  );
}

function encodeMetadata(metadata: RolloutLogMetadata): Map<string, string> {
  return new Map([
    [MetadataKey.format, ROLLOUT_LOG_FORMAT],
    [MetadataKey.formatVersion, String(ROLLOUT_LOG_FORMAT_VERSION)],
    [MetadataKey.runId, metadata.runId],
    [MetadataKey.createdAt, metadata.createdAt],
    [MetadataKey.pipeline, metadata.pipelineConfig],
    [MetadataKey.rewardComponents, JSON.stringify(metadata.rewardComponents)],
    [MetadataKey.tensorSizes, JSON.stringify(metadata.tensorSizes)],
    [MetadataKey.latentDtype, metadata.latentDtype],
    ...(metadata.cleanLatents ? [[MetadataKey.cleanLatents, "true"] as [string, string]] : []),
  ]);
}

/** Reads and checks a file's schema metadata; a file of another format or version fails here, before any column. */
export function decodeMetadata(file: string, raw: ReadonlyMap<string, string>): RolloutLogMetadata {
  const required = (key: string, expected: string): string => {
    const value = raw.get(key);
    if (value === undefined) throw new RolloutLogMetadataMismatch({ file, key, expected, found: "absent" });
    return value;
  };
  const json = <S extends Schema.Top & { readonly DecodingServices: never }>(key: string, schema: S, expected: string) => {
    const text = required(key, expected);
    return Option.getOrThrowWith(Schema.decodeUnknownOption(Schema.fromJsonString(schema))(text), () =>
      new RolloutLogMetadataMismatch({ file, key, expected, found: JSON.stringify(text) }),
    ) as S["Type"];
  };
  const format = required(MetadataKey.format, ROLLOUT_LOG_FORMAT);
  if (format !== ROLLOUT_LOG_FORMAT) {
    throw new RolloutLogMetadataMismatch({ file, key: MetadataKey.format, expected: ROLLOUT_LOG_FORMAT, found: format });
  }
  const version = required(MetadataKey.formatVersion, String(ROLLOUT_LOG_FORMAT_VERSION));
  if (version !== String(ROLLOUT_LOG_FORMAT_VERSION)) {
    const older = OLDER_VERSIONS[version];
    throw new RolloutLogMetadataMismatch({
      file,
      key: MetadataKey.formatVersion,
      expected: `${ROLLOUT_LOG_FORMAT_VERSION} (the version this build reads${older === undefined ? "" : `; a format-${version} log is refused because ${older}: read it with the build that wrote it, or start a new run`})`,
      found: version,
    });
  }
  return {
    runId: required(MetadataKey.runId, "a run id"),
    createdAt: required(MetadataKey.createdAt, "a creation time"),
    pipelineConfig: required(MetadataKey.pipeline, "the resolved pipeline JSON"),
    rewardComponents: json(MetadataKey.rewardComponents, RewardComponents, "a JSON array of component names"),
    tensorSizes: json(MetadataKey.tensorSizes, TensorSizes, '{"latent":int,"feature":int,"patchTokens":int|null}'),
    latentDtype: latentDtypeOf(file, required(MetadataKey.latentDtype, "float32, float16 or none")),
    ...(cleanLatentsOf(file, raw.get(MetadataKey.cleanLatents)) ? { cleanLatents: true } : {}),
  };
}

function cleanLatentsOf(file: string, found: string | undefined): boolean {
  if (found !== undefined && found !== "true") throw new RolloutLogMetadataMismatch({ file, key: MetadataKey.cleanLatents, expected: "true, or no such key", found });
  return found === "true";
}

function latentDtypeOf(file: string, found: string): LatentDtype {
  if (!Schema.is(LatentDtype)(found)) throw new RolloutLogMetadataMismatch({ file, key: MetadataKey.latentDtype, expected: "float32, float16 or none", found });
  return found;
}

/** Every column the metadata implies must be present with its exact type; extra columns are tolerated. */
export function checkColumns(file: string, found: ArrowSchema, expected: ArrowSchema): void {
  const byName = new Map(found.fields.map((f) => [f.name, f]));
  for (const want of expected.fields) {
    const have = byName.get(want.name);
    if (have === undefined) throw new RolloutLogMissingColumn({ file, column: want.name });
    // Compared by their full textual form: arrow-js's compareTypes also compares classes, and a decoded
    // schema has e.g. Int_ where the built one has Int32.
    const [expected, found] = [String(want.type), String(have.type)];
    if (expected !== found) {
      throw new RolloutLogColumnType({ file, column: want.name, expected, found });
    }
  }
}
