/**
 * Ports backed by a run's recorded rows, for replay. The sampler hands back the recorded rollout of each key
 * (its decoded image and its latent chain), or, for a log without latents, samples the key again with the
 * live sampler and compares its log-probs and image with the recorded ones. The scoring ports recompute features and rewards with the real
 * ports for the rows being checked, compare them with what was recorded, and pass the recorded rewards on,
 * so advantages and optimiser steps downstream are recomputed from what the run saw; rows not checked (no
 * images, no starting checkpoint, another group) keep their recorded values throughout.
 */
import { map, of } from "rxjs";
import { decodePng } from "../io/png.ts";
import type { RecordedRollout } from "../io/rollout-log/index.ts";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import type { RewardScore } from "../stages/ports.ts";
import type { Ports } from "./adapters.ts";
import type { Comparison, Where } from "./replay-comparison.ts";

const keyText = (k: RolloutKey) => `${k.epoch}/${k.groupId}/${k.member}`;

export const rowAt = (r: RolloutKey): Where => ({ epoch: r.epoch, group: r.groupId, member: r.member });

interface RecordedPortsOptions {
  readonly rows: readonly RecordedRollout[];
  /** The log holds no latents (record.latentDtype: none): checked groups are sampled again and compared. */
  readonly resample: boolean;
  /** Whether a row's features and rewards are recomputed and compared. */
  readonly checked: (row: RolloutKey) => boolean;
  readonly compare: Comparison;
}

const recordedScore = (r: RecordedRollout): RewardScore => ({ rewards: r.rewards, reward: r.reward, discLogitCls: r.discLogitCls, discLogitPatch: r.discLogitPatch });

export const recordedPorts = (live: Pick<Ports, "sampler" | "features" | "rewards">, o: RecordedPortsOptions): Pick<Ports, "sampler" | "features" | "rewards"> => {
  const byKey = new Map(o.rows.map((r) => [keyText(r), r]));
  const recorded = (k: RolloutKey): RecordedRollout => {
    const row = byKey.get(keyText(k));
    if (!row) throw new Error(`the rollout log has no row for epoch ${k.epoch} group ${k.groupId} member ${k.member}`);
    return row;
  };
  const allChecked = (rows: readonly RolloutKey[]) => {
    const checked = rows.filter(o.checked).length;
    if (checked !== 0 && checked !== rows.length) throw new Error(`replay checks whole groups; epoch ${rows[0]!.epoch} group ${rows[0]!.groupId} is only partly selected`);
    return checked > 0;
  };
  const empty = new Float32Array(0);
  return {
    sampler: {
      sample: (keys) =>
        o.resample && allChecked(keys)
          ? live.sampler.sample(keys).pipe(
              map((sampled) =>
                sampled.map((row) => {
                  const r = recorded(row);
                  const at = rowAt(row);
                  o.compare.add("steps.logProb", at, Float32Array.from(r.steps, (s) => s.logProb), Float32Array.from(row.steps, (s) => s.logProb));
                  o.compare.add("image", at, decodePng(r.png, `rollout epoch ${r.epoch} group ${r.groupId} member ${r.member}`).data, row.image);
                  return row;
                }),
              ),
            )
          : of(
              keys.map((k): SampledRollout => {
                const r = recorded(k);
                const image = o.checked(k) ? decodePng(r.png, `rollout epoch ${r.epoch} group ${r.groupId} member ${r.member}`).data : empty;
                return { ...r, image, timings: {} };
              }),
            ),
    },
    features: {
      extract: (rows) => {
        if (allChecked(rows)) return live.features.extract(rows);
        return of(rows.map((row) => {
          const r = recorded(row);
          return { cls: r.cls ?? empty, patches: r.patches ?? empty, pooled: r.pooled };
        }));
      },
    },
    rewards: {
      score: (rows) => {
        if (!allChecked(rows)) return of(rows.map((k) => recordedScore(recorded(k))));
        return live.rewards.score(rows).pipe(
          map((scores) =>
            rows.map((row, i) => {
              const r = recorded(row);
              const s = scores[i]!;
              const at = rowAt(row);
              o.compare.add("pooled", at, r.pooled, row.pooled);
              if (r.cls) o.compare.add("cls", at, r.cls, row.cls);
              if (r.patches) o.compare.add("patches", at, r.patches, row.patches);
              for (const [name, value] of Object.entries(s.rewards)) o.compare.add(`reward.${name}`, at, r.rewards[name] ?? NaN, value);
              o.compare.add("reward", at, r.reward, s.reward);
              o.compare.add("discLogitCls", at, r.discLogitCls, s.discLogitCls);
              o.compare.add("discLogitPatch", at, r.discLogitPatch, s.discLogitPatch);
              return recordedScore(r);
            }),
          ),
        );
      },
    },
  };
};
