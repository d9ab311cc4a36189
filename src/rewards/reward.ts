/**
 * One interface for every reward: a component scores a batch and returns one number per image.
 * The batch carries what the stages before produced (images, prompts, backbone features, the patch
 * indices drawn for the adversarial head); a component that needs a missing field says which.
 */
import { Schema } from "effect";
import type { RgbImage } from "../io/png.ts";
import type { Features } from "../models/backbone/features.ts";
import type { Scores } from "../models/discriminator/discriminator.ts";

export interface RewardBatch {
  readonly images: readonly RgbImage[];
  readonly prompts: readonly string[];
  readonly features?: Features;
  /** [B, n] patch indices for discriminator scoring, drawn from the rows' seeds and recorded for replay. */
  readonly patchIndices?: Int32Array;
  /** Scores a discriminator head already computed on exactly this batch, keyed by the head, so it runs once. */
  readonly headScores?: ReadonlyMap<object, Scores>;
}

export interface RewardComponent {
  readonly name: string;
  score(batch: RewardBatch): Promise<Float32Array>;
}

/** A reward that cannot run on the batch it was given. */
export class RewardInputError extends Schema.TaggedError<RewardInputError>()("RewardInputError", {
  component: Schema.String,
  field: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `reward '${this.component}': ${this.field} ${this.reason}`;
  }
}

export const requireField = <K extends keyof RewardBatch>(component: string, batch: RewardBatch, field: K): NonNullable<RewardBatch[K]> => {
  const value = batch[field];
  if (value === undefined) throw new RewardInputError({ component, field, reason: "is required but the batch has none (is the stage that produces it wired before this reward?)" });
  return value as NonNullable<RewardBatch[K]>;
};

/** Every component's scores, recorded separately, and their weighted sum. */
export interface RewardScores {
  readonly total: Float32Array;
  readonly components: Readonly<Record<string, Float32Array>>;
}

export interface WeightedComponent {
  readonly component: RewardComponent;
  readonly weight: number;
}

/** Scores each component once and sums them with their weights; names must be unique. */
export const scoreWeighted = async (parts: readonly WeightedComponent[], batch: RewardBatch): Promise<RewardScores> => {
  const names = parts.map((p) => p.component.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new RewardInputError({ component: duplicate, field: "name", reason: "is used by two components of one weighted reward" });
  const total = new Float32Array(batch.images.length);
  const components: Record<string, Float32Array> = {};
  for (const { component, weight } of parts) {
    const scores = await component.score(batch);
    if (scores.length !== total.length) throw new RewardInputError({ component: component.name, field: "scores", reason: `has ${scores.length} values for ${total.length} images` });
    components[component.name] = scores;
    for (let i = 0; i < total.length; i++) total[i]! += weight * scores[i]!;
  }
  return { total, components };
};

/** The weighted sum as a component itself, for callers that want one number per image. */
export const weightedReward = (name: string, parts: readonly WeightedComponent[]): RewardComponent => ({
  name,
  score: async (batch) => (await scoreWeighted(parts, batch)).total,
});
