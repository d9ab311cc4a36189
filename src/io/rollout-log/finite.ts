/**
 * The log's float columns hold finite numbers only, except the discriminator logits, which are NaN when no
 * discriminator runs. A NaN or infinity reaching the writer means a stage upstream went wrong; recording it
 * would hide where, and replay would then compare NaN with NaN. So the row is refused, naming the column,
 * the row and the value.
 */
import type { AdvantagedRollout } from "../../rollout/rollout.ts";
import { RolloutLogNonFinite } from "./errors.ts";
import { rewardColumn } from "./schema.ts";
import type { RolloutLogMetadata } from "./schema.ts";

/** Throws RolloutLogNonFinite for the first value of `row` (at `path` in the append call) that must be finite and is not. */
export function requireFinite(file: string, metadata: RolloutLogMetadata, row: AdvantagedRollout, path: string): void {
  const refuse = (column: string, field: string, value: number): never => {
    throw new RolloutLogNonFinite({ file, column, field: `${path}.${field}`, epoch: row.epoch, groupId: row.groupId, member: row.member, value });
  };
  const scalar = (column: string, field: string, value: number) => Number.isFinite(value) || refuse(column, field, value);
  const tensor = (column: string, field: string, values: Float32Array) => {
    const at = values.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) refuse(column, `${field}[${at}]`, values[at]!);
  };
  row.steps.forEach((step, i) => {
    for (const key of ["sigma", "sigmaNext", "logProb"] as const) scalar(`steps.${key}`, `steps[${i}].${key}`, step[key]);
    if (metadata.latentDtype !== "none") {
      tensor("latents", `steps[${i}].x`, step.x);
      tensor("latents", `steps[${i}].xNext`, step.xNext);
    }
  });
  if (metadata.cleanLatents) tensor("clean", "clean", row.clean!);
  for (const name of metadata.rewardComponents) scalar(rewardColumn(name), `rewards.${name}`, row.rewards[name]!);
  scalar("reward", "reward", row.reward);
  scalar("advantage", "advantage", row.advantage);
  for (const key of ["discLogitCls", "discLogitPatch"] as const) if (!Number.isNaN(row[key])) scalar(key, key, row[key]);
  tensor("pooled", "pooled", row.pooled);
  if (metadata.tensorSizes.patchTokens !== null) {
    tensor("cls", "cls", row.cls);
    tensor("patches", "patches", row.patches);
  }
  for (const [stage, ms] of Object.entries(row.timings)) scalar("timings", `timings.${stage}`, ms);
}
