/**
 * Ports backed by a run's recorded rows, for replay. The sampler hands back the recorded rollout of each key
 * (its decoded image and its latent chain), or, for a log without latents, samples the key again with the
 * live sampler and compares its log-probs and image with the recorded ones. The scoring ports recompute
 * features and rewards with the real ports for the rows being checked, compare them with what was recorded,
 * and pass the recorded rewards on, so advantages and optimiser steps downstream are recomputed from what the
 * run saw; rows not checked (no images, no starting checkpoint, another group) keep their recorded values.
 */
import { map, of } from "rxjs";
import { decodePng } from "../io/png.ts";
import type { RecordedRollout } from "../io/rollout-log/index.ts";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import type { FeaturePort, RewardPort, RewardScore, SamplerPort } from "../stages/ports.ts";
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

/** The recorded rows by key, and whether a group's rows are the ones being checked. */
const recordedRows = (o: RecordedPortsOptions) => {
  const byKey = new Map(o.rows.map((r) => [keyText(r), r]));
  return {
    row: (k: RolloutKey): RecordedRollout => {
      const row = byKey.get(keyText(k));
      if (!row) throw new Error(`the rollout log has no row for epoch ${k.epoch} group ${k.groupId} member ${k.member}`);
      return row;
    },
    allChecked: (rows: readonly RolloutKey[]): boolean => {
      const checked = rows.filter(o.checked).length;
      if (checked !== 0 && checked !== rows.length) throw new Error(`replay checks whole groups; epoch ${rows[0]!.epoch} group ${rows[0]!.groupId} is only partly selected`);
      return checked > 0;
    },
  };
};

type Recorded = ReturnType<typeof recordedRows>;

const empty = new Float32Array(0);
const imageOf = (r: RecordedRollout) => decodePng(r.png, `rollout epoch ${r.epoch} group ${r.groupId} member ${r.member}`).data;

/** The recorded rollouts; a log without latents has its checked groups sampled again and compared. */
const recordedSampler = (live: SamplerPort, recorded: Recorded, o: RecordedPortsOptions): SamplerPort => ({
  sample: (keys) =>
    o.resample && recorded.allChecked(keys)
      ? live.sample(keys).pipe(
          map((sampled) =>
            sampled.map((row) => {
              const r = recorded.row(row);
              const at = rowAt(row);
              o.compare.add("steps.logProb", at, Float32Array.from(r.steps, (s) => s.logProb), Float32Array.from(row.steps, (s) => s.logProb));
              o.compare.add("image", at, imageOf(r), row.image);
              return row;
            }),
          ),
        )
      : of(
          keys.map((k): SampledRollout => {
            const r = recorded.row(k);
            return { ...r, image: o.checked(k) ? imageOf(r) : empty, timings: {} };
          }),
        ),
});

const recordedFeatures = (live: FeaturePort, recorded: Recorded): FeaturePort => ({
  extract: (rows) => {
    if (recorded.allChecked(rows)) return live.extract(rows);
    return of(rows.map((row) => {
      const r = recorded.row(row);
      return { cls: r.cls ?? empty, patches: r.patches ?? empty, pooled: r.pooled };
    }));
  },
});

/** Checked rows are scored again and compared; every row passes its recorded score on. */
const recordedRewards = (live: RewardPort, recorded: Recorded, o: RecordedPortsOptions): RewardPort => ({
  score: (rows) => {
    if (!recorded.allChecked(rows)) return of(rows.map((k) => recordedScore(recorded.row(k))));
    return live.score(rows).pipe(
      map((scores) =>
        rows.map((row, i) => {
          const r = recorded.row(row);
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
});

export const recordedPorts = (live: Pick<Ports, "sampler" | "features" | "rewards">, o: RecordedPortsOptions): Pick<Ports, "sampler" | "features" | "rewards"> => {
  const recorded = recordedRows(o);
  return { sampler: recordedSampler(live.sampler, recorded, o), features: recordedFeatures(live.features, recorded), rewards: recordedRewards(live.rewards, recorded, o) };
};
