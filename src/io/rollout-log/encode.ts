/** Rollout rows -> one Arrow RecordBatch, column by column from typed arrays; and the row checks before it. */
import { RecordBatch, Struct } from "apache-arrow";
import type { Data, Dictionary, FixedSizeList, Float16, Float32, Float64, Int32, List, Map_, Schema as ArrowSchema, Utf8 } from "apache-arrow";
import type { AdvantagedRollout, TrajectoryStep } from "../../rollout/rollout.ts";
import {
  binaryColumn,
  dictionaryColumn,
  float64Column,
  int32Column,
  int64Column,
  listColumn,
  mapColumn,
  structColumn,
  tensorColumn,
} from "./columns.ts";
import { RolloutLogRowInvalid } from "./errors.ts";
import { FLOAT16_MAX } from "../../util/float16.ts";
import { latentChainType, rewardColumn, stepType } from "./schema.ts";
import type { RolloutLogMetadata } from "./schema.ts";

/** Encodes a decoded image ([3,H,W] in [0,1]) as PNG; injected so the log does not own an image codec. */
export type EncodePng = (image: Float32Array, height: number, width: number) => Uint8Array;

const INT32_MAX = 2 ** 31 - 1;

function describe(value: unknown): string {
  if (value instanceof Float32Array) return `a Float32Array of ${value.length} values`;
  if (Array.isArray(value)) {
    return value.every((v) => typeof v === "string") ? JSON.stringify(value) : `an array of ${value.length}`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  return value === null || typeof value !== "object" ? String(value) : "an object";
}

/** Checks of one row's values; each failure names the value by its path in the append call, e.g. `rows[3].steps[1].x`. */
const rowChecks = (file: string, path: string, metadata: RolloutLogMetadata) => {
  const fail = (field: string, expected: string, value: unknown): never => {
    throw new RolloutLogRowInvalid({ file, field: `${path}.${field}`, expected, found: describe(value) });
  };
  const tensor = (field: string, value: unknown, size: number) =>
    (value instanceof Float32Array && value.length === size) || fail(field, `a Float32Array of ${size} values`, value);
  return {
    fail,
    tensor,
    int32: (field: string, value: unknown, min = 0) => {
      if (!Number.isInteger(value) || (value as number) < min || (value as number) > INT32_MAX) fail(field, `an integer in [${min}, ${INT32_MAX}]`, value);
    },
    number: (field: string, value: unknown) => typeof value === "number" || fail(field, "a number", value),
    string: (field: string, value: unknown) => typeof value === "string" || fail(field, "a string", value),
    record: (field: string, value: unknown) => (typeof value === "object" && value !== null) || fail(field, "a record of numbers", value),
    /** A latent of the log's size; only a float16 log rounds, so a value it cannot hold must fail here rather than be stored as an infinity. */
    latent: (field: string, value: Float32Array) => {
      tensor(field, value, metadata.tensorSizes.latent);
      if (metadata.latentDtype !== "float16") return;
      const i = value.findIndex((v) => !(Math.abs(v) <= FLOAT16_MAX));
      if (i >= 0) fail(`${field}[${i}]`, `a finite value within +-${FLOAT16_MAX} (record.latentDtype: float16)`, value[i]);
    },
  };
};

type RowChecks = ReturnType<typeof rowChecks>;

/** The window's steps: consecutive, and one chain of latents (each step starts where the one before it ended). */
function validateSteps(check: RowChecks, steps: readonly TrajectoryStep[]): void {
  steps.forEach((step, i) => {
    check.int32(`steps[${i}].stepIndex`, step.stepIndex);
    for (const key of ["sigma", "sigmaNext", "logProb"] as const) check.number(`steps[${i}].${key}`, step[key]);
    check.latent(`steps[${i}].x`, step.x);
    check.latent(`steps[${i}].xNext`, step.xNext);
    const before = steps[i - 1];
    if (before === undefined) return;
    if (step.stepIndex !== before.stepIndex + 1) check.fail(`steps[${i}].stepIndex`, `${before.stepIndex + 1} (the steps of one window are consecutive)`, step.stepIndex);
    const differs = step.x.findIndex((v, j) => !Object.is(v, before.xNext[j]));
    if (differs >= 0) check.fail(`steps[${i}].x[${differs}]`, `steps[${i - 1}].xNext[${differs}] = ${before.xNext[differs]} (one chain of latents)`, step.x[differs]);
  });
}

/** Checks a row against the log's layout so that a bad row fails its append call, naming the value. */
export function validateRow(file: string, metadata: RolloutLogMetadata, row: AdvantagedRollout, path: string): void {
  const check = rowChecks(file, path, metadata);
  const sizes = metadata.tensorSizes;
  check.string("runId", row.runId);
  check.string("prompt", row.prompt);
  for (const key of ["epoch", "policyVersion", "promptIndex", "groupId", "member"] as const) check.int32(key, row[key]);
  if (!Number.isSafeInteger(row.seed)) check.fail("seed", "a safe integer", row.seed);
  if (!Array.isArray(row.steps)) check.fail("steps", "an array of trajectory steps", row.steps);
  validateSteps(check, row.steps);
  if (metadata.cleanLatents) {
    if (row.clean === undefined) check.fail("clean", `a Float32Array of ${sizes.latent} values (the log keeps each row's final latent)`, row.clean);
    check.latent("clean", row.clean!);
  }
  check.record("rewards", row.rewards);
  const components = Object.keys(row.rewards);
  const expectedComponents = metadata.rewardComponents;
  if (components.length !== expectedComponents.length || components.some((c) => !expectedComponents.includes(c))) {
    check.fail("rewards", `exactly the components ${JSON.stringify(expectedComponents)}`, components);
  }
  for (const name of expectedComponents) check.number(`rewards.${name}`, row.rewards[name]);
  for (const key of ["reward", "advantage", "discLogitCls", "discLogitPatch"] as const) check.number(key, row[key]);
  check.tensor("pooled", row.pooled, sizes.feature);
  if (sizes.patchTokens !== null) {
    check.tensor("cls", row.cls, sizes.feature);
    check.tensor("patches", row.patches, sizes.patchTokens * sizes.feature);
  }
  check.int32("imageHeight", row.imageHeight, 1);
  check.int32("imageWidth", row.imageWidth, 1);
  check.tensor("image", row.image, 3 * row.imageHeight * row.imageWidth);
  check.record("timings", row.timings);
  for (const [stage, ms] of Object.entries(row.timings)) check.number(`timings.${stage}`, ms);
}

/** One batch of already validated rows; `pngs[i]` is row i's encoded image. */
export function encodeBatch(
  schema: ArrowSchema,
  metadata: RolloutLogMetadata,
  rows: readonly AdvantagedRollout[],
  pngs: readonly Uint8Array[],
): RecordBatch {
  const typeOf = <T>(name: string) => schema.fields.find((f) => f.name === name)!.type as T;
  const int32 = (pick: (r: AdvantagedRollout) => number) => int32Column(Int32Array.from(rows, pick));
  const float64 = (pick: (r: AdvantagedRollout) => number) => float64Column(Float64Array.from(rows, pick));
  const tensor = (name: string, pick: (r: AdvantagedRollout) => Float32Array) =>
    tensorColumn(typeOf<FixedSizeList<Float32>>(name), rows.map(pick));

  const steps = rows.flatMap((r) => r.steps);
  const stepColumn = structColumn(stepType(), steps.length, [
    int32Column(Int32Array.from(steps, (s) => s.stepIndex)),
    float64Column(Float64Array.from(steps, (s) => s.sigma)),
    float64Column(Float64Array.from(steps, (s) => s.sigmaNext)),
    float64Column(Float64Array.from(steps, (s) => s.logProb)),
  ]);
  const latentColumn = (dtype: "float32" | "float16") => {
    const chains = rows.map((r) => (r.steps.length === 0 ? [] : [...r.steps.map((s) => s.x), r.steps.at(-1)!.xNext]));
    const chainType = latentChainType(metadata.tensorSizes, dtype);
    return listColumn(chainType, chains.map((c) => c.length), tensorColumn(chainType.children[0]!.type as FixedSizeList<Float32 | Float16>, chains.flat()));
  };

  const columns: Record<string, Data> = {
    runId: dictionaryColumn(typeOf<Dictionary<Utf8, Int32>>("runId"), rows.map((r) => r.runId)),
    epoch: int32((r) => r.epoch),
    policyVersion: int32((r) => r.policyVersion),
    prompt: dictionaryColumn(typeOf<Dictionary<Utf8, Int32>>("prompt"), rows.map((r) => r.prompt)),
    promptIndex: int32((r) => r.promptIndex),
    groupId: int32((r) => r.groupId),
    member: int32((r) => r.member),
    seed: int64Column(BigInt64Array.from(rows, (r) => BigInt(r.seed))),
    steps: listColumn(typeOf<List<Struct>>("steps"), rows.map((r) => r.steps.length), stepColumn),
    ...(metadata.latentDtype === "none" ? {} : { latents: latentColumn(metadata.latentDtype) }),
    ...(metadata.cleanLatents ? { clean: tensorColumn(typeOf<FixedSizeList<Float32 | Float16>>("clean"), rows.map((r) => r.clean!)) } : {}),
    ...Object.fromEntries(metadata.rewardComponents.map((c) => [rewardColumn(c), float64((r) => r.rewards[c]!)])),
    reward: float64((r) => r.reward),
    advantage: float64((r) => r.advantage),
    discLogitCls: float64((r) => r.discLogitCls),
    discLogitPatch: float64((r) => r.discLogitPatch),
    pooled: tensor("pooled", (r) => r.pooled),
    ...(metadata.tensorSizes.patchTokens === null
      ? {}
      : { cls: tensor("cls", (r) => r.cls), patches: tensor("patches", (r) => r.patches) }),
    png: binaryColumn(pngs),
    imageHeight: int32((r) => r.imageHeight),
    imageWidth: int32((r) => r.imageWidth),
    timings: mapColumn(typeOf<Map_<Utf8, Float64>>("timings"), rows.map((r) => r.timings)),
  };
  const children = schema.fields.map((f) => columns[f.name]!);
  return new RecordBatch(schema, structColumn(new Struct(schema.fields), rows.length, children));
}
