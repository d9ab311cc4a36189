/**
 * Rollout ports for groups sampled, featurised and scored ahead of the epoch stream, elsewhere (NATS workers,
 * a sampling thread): `sample` waits for the group's finished rows; `extract` and `score` hand back what was
 * computed for those very rows, so the stages and their marble specs stay as they are.
 *
 * Bounded lag k = learner.maxPolicyLag: epoch j samples with the weights the learner had when epoch
 * max(0, j - k) started, so sampling of epochs e+1..e+k overlaps learning on epoch e, and the learner's ratio
 * uses the recorded sampling log-probs as the old policy. The rule depends only on the epoch, so a resumed run
 * samples every epoch with the same weights as the run it continues.
 */
import { defer, from, type Observable } from "rxjs";
import type { RolloutKey, ScoredRollout } from "../rollout/rollout.ts";
import type { Ports } from "./adapters.ts";

/** The epoch whose start weights sample epoch `epoch` at lag `lag`. */
export const samplingEpoch = (epoch: number, lag: number): number => Math.max(0, epoch - lag);

export const aheadPorts = (sampleGroup: (keys: readonly RolloutKey[]) => Promise<ScoredRollout[]>): Pick<Ports, "sampler" | "features" | "rewards"> => {
  // Rows are matched to their finished results by their image array, which only these rows carry.
  const scored = new WeakMap<Float32Array, ScoredRollout>();
  const lookup = (image: Float32Array): ScoredRollout => {
    const row = scored.get(image);
    if (!row) throw new Error("internal: a row reached the feature or reward port without its precomputed result");
    return row;
  };
  const later = <T>(work: () => Promise<T>): Observable<T> => defer(() => from(work()));
  return {
    sampler: {
      sample: (keys) =>
        later(async () => {
          const rows = await sampleGroup(keys);
          for (const row of rows) scored.set(row.image, row);
          return rows;
        }),
    },
    features: {
      extract: (images) => later(async () => images.map((i) => lookup(i.image)).map(({ cls, patches, pooled }) => ({ cls, patches, pooled }))),
    },
    rewards: {
      score: (rows) => later(async () => rows.map((r) => lookup(r.image)).map(({ rewards, reward, discLogitCls, discLogitPatch }) => ({ rewards, reward, discLogitCls, discLogitPatch }))),
    },
  };
};
