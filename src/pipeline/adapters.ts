/**
 * The stages' ports bound to the real models. Model calls are Promises; each port call is a cold Observable
 * that starts its call on subscription, and a StageClock adds up the wall time spent behind every port.
 */
import { defer, from, type Observable } from "rxjs";
import type { RgbImage } from "../io/png.ts";
import type { RolloutLogWriter } from "../io/rollout-log/index.ts";
import type { FeatureLayout, Features } from "../models/backbone/features.ts";
import type { Discriminator } from "../models/discriminator/discriminator.ts";
import type { AdvantagedRollout, FeaturedRollout } from "../rollout/rollout.ts";
import type {
  DiscriminatorPort,
  EvaluatorPort,
  FeaturePort,
  LearnerPort,
  RecorderPort,
  ReferencePort,
  ReferenceRewardPort,
  RewardPort,
  SamplerPort,
} from "../stages/ports.ts";
import type { Evaluator } from "./evaluation.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";
import { batchLabel } from "./state.ts";

/** Milliseconds spent behind each port, for per-stage timing reports. */
export class StageClock {
  private readonly totals = new Map<string, number>();

  time<T>(stage: string, work: () => Promise<T>): Observable<T> {
    return defer(() => {
      const start = performance.now();
      return from(work().finally(() => this.totals.set(stage, (this.totals.get(stage) ?? 0) + performance.now() - start)));
    });
  }

  /** The totals since the last call, then starts again from zero. */
  take(): Record<string, number> {
    const out = Object.fromEntries(this.totals);
    this.totals.clear();
    return out;
  }
}

const imageOf = (row: { image: Float32Array; imageHeight: number; imageWidth: number }): RgbImage => ({ data: row.image, height: row.imageHeight, width: row.imageWidth });

/** Arrays as one: a view when they lie side by side in one buffer (rows split from one batch), else a copy. */
const joined = (parts: readonly Float32Array[]): Float32Array => {
  const first = parts[0]!;
  let end = first.byteOffset + first.byteLength;
  for (const part of parts.slice(1)) {
    if (part.buffer !== first.buffer || part.byteOffset !== end) {
      const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
      return out;
    }
    end += part.byteLength;
  }
  return new Float32Array(first.buffer, first.byteOffset, (end - first.byteOffset) / Float32Array.BYTES_PER_ELEMENT);
};

/**
 * Rows' tokens as one batch of the backbone's `layout`. A group's rows are views into the batch the backbone
 * produced for it (splitFeatures), so this gives that batch back without copying.
 */
const featuresOfRows = (rows: readonly Pick<FeaturedRollout, "cls" | "patches" | "pooled">[], layout: FeatureLayout): Features => {
  const sizes = { cls: layout.dim, patches: layout.patchCount * layout.dim, pooled: layout.pooledDim };
  for (const [i, row] of rows.entries()) {
    for (const [name, size] of Object.entries(sizes) as [keyof typeof sizes, number][]) {
      if (row[name].length !== size) throw new Error(`features of row ${i}: '${name}' has ${row[name].length} values, the backbone's layout (D ${layout.dim}, N ${layout.patchCount}, P ${layout.pooledDim}) gives ${size}`);
    }
  }
  return {
    ...layout,
    batch: rows.length,
    cls: joined(rows.map((r) => r.cls)),
    patches: joined(rows.map((r) => r.patches)),
    pooled: joined(rows.map((r) => r.pooled)),
  };
};

/** One entry per image, each a view into the batch (no copies). */
const splitFeatures = (f: Features) =>
  Array.from({ length: f.batch }, (_, i) => ({
    cls: f.cls.subarray(i * f.dim, (i + 1) * f.dim),
    patches: f.patches.subarray(i * f.patchCount * f.dim, (i + 1) * f.patchCount * f.dim),
    pooled: f.pooled.subarray(i * f.pooledDim, (i + 1) * f.pooledDim),
  }));

export interface Ports {
  readonly sampler: SamplerPort;
  readonly features: FeaturePort;
  readonly rewards: RewardPort;
  readonly learner: LearnerPort;
  readonly discriminator: DiscriminatorPort;
  readonly references: ReferencePort;
  readonly referenceReward: ReferenceRewardPort;
  readonly recorder: RecorderPort;
  readonly evaluator: EvaluatorPort;
}

interface PortContext {
  readonly policy: Policy;
  readonly rewards: RewardModel;
  readonly evaluator: Evaluator;
  readonly log: RolloutLogWriter;
  readonly prompts: readonly string[];
  /** The backbone's feature shapes, for joining rows' tokens back into batches. */
  readonly layout: FeatureLayout;
  /** Heads the discriminator port steps in a given epoch (the adversarial one, the warm-up of a frozen one). */
  readonly trainedHeads: (epoch: number) => readonly Discriminator[];
  readonly clock: StageClock;
}

/** The ports that turn keys into scored rollouts: what a rollout worker runs, and a single process too. */
export const rolloutPorts = (c: Pick<PortContext, "policy" | "rewards" | "layout" | "clock">): Pick<Ports, "sampler" | "features" | "rewards"> => ({
  sampler: {
    sample: (keys) => c.clock.time("sample", async () => c.policy.sampler.sample(keys, await c.policy.embed(keys.map((k) => k.prompt)), c.policy.params)),
  },
  features: {
    extract: (images) => c.clock.time("features", async () => splitFeatures(await c.rewards.features.extract(images.map(imageOf)))),
  },
  rewards: {
    score: (rows) =>
      c.clock.time("reward", async () => {
        const scored = await c.rewards.score(rows.map(imageOf), rows.map((r) => r.prompt), featuresOfRows(rows, c.layout), batchLabel(rows[0]!));
        return rows.map((_, i) => ({
          rewards: Object.fromEntries(Object.entries(scored.components).map(([name, values]) => [name, values[i]!])),
          reward: scored.total[i]!,
          discLogitCls: scored.clsLogits[i]!,
          discLogitPatch: scored.patchLogits[i]!,
        }));
      }),
  },
});

/** The ports of the optimiser steps: what replay runs again on the recorded rows. */
export const stepPorts = (
  c: Pick<PortContext, "policy" | "rewards" | "prompts" | "layout" | "trainedHeads" | "clock">,
): Pick<Ports, "learner" | "references" | "discriminator" | "referenceReward"> => ({
  learner: {
    step: (groups) =>
      c.clock.time("learn", async () => {
        const batches = await Promise.all(groups.map(async (rollouts) => ({ rollouts, ...(await c.policy.embed(rollouts.map((r) => r.prompt))) })));
        // Optimiser steps between the weights that sampled the batch and the weights this step updates.
        const policyLag = c.policy.optimizer.stepCount - Math.min(...groups.flat().map((r) => r.policyVersion));
        return { ...(await c.policy.learner.step(batches)), policyLag };
      }),
  },
  references: {
    forPrompts: (promptIndices) =>
      c.clock.time("references", async () =>
        (await Promise.all(promptIndices.map(async (p) => splitFeatures(await c.rewards.references.features(c.prompts[p]!)).map((f) => ({ ...f, promptIndex: p }))))).flat(),
      ),
  },
  discriminator: {
    step: (batch) =>
      c.clock.time("discriminator", async () => {
        const refs = featuresOfRows(batch.references, c.layout);
        const generated = featuresOfRows(batch.generated, c.layout);
        const stats: Record<string, number> = {};
        for (const [k, head] of c.trainedHeads(batch.epoch).entries()) {
          const step = await c.rewards.stepHead(head, refs, generated, `discriminator/${batch.epoch}/${k}`);
          Object.assign(stats, k === 0 ? step : Object.fromEntries(Object.entries(step).map(([name, v]) => [`head${k}.${name}`, v])));
        }
        return stats;
      }),
  },
  referenceReward: {
    meanReward: (promptIndices) => c.clock.time("reward", () => c.rewards.referenceReward(promptIndices.map((p) => c.prompts[p]!), "trigger")),
  },
});

export const bindPorts = (c: PortContext): Ports => ({
  ...rolloutPorts(c),
  ...stepPorts(c),
  recorder: {
    record: (rows: readonly AdvantagedRollout[]) =>
      c.clock.time("record", async () => {
        c.log.append(rows);
        c.log.flush();
        return { rowsWritten: c.log.rowsWritten };
      }),
  },
  evaluator: {
    evaluate: (epoch) => c.clock.time("evaluate", () => c.evaluator.evaluate(epoch + 1)),
  },
});
