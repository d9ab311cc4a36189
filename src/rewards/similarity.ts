/**
 * Static DINO similarity (baseline reward and evaluation metric): cosine of the L2-normalised pooled
 * features, max over the prompt's reference images.
 */
import { requireField, RewardInputError, type RewardComponent } from "./reward.ts";

/** Pooled, L2-normalised features of each prompt's references: rows of `width` values. */
interface ReferenceFeatures {
  readonly width: number;
  readonly byPrompt: ReadonlyMap<string, Float32Array>;
}

const maxCosine = (query: Float32Array, references: Float32Array, width: number): number => {
  let best = -Infinity;
  for (let r = 0; r < references.length / width; r++) {
    let dot = 0;
    for (let j = 0; j < width; j++) dot += query[j]! * references[r * width + j]!;
    best = Math.max(best, dot);
  }
  return best;
};

export const dinoSimilarityReward = (references: ReferenceFeatures, name = "dino-similarity"): RewardComponent => ({
  name,
  score: async (batch) => {
    const features = requireField(name, batch, "features");
    if (features.pooledDim !== references.width) throw new RewardInputError({ component: name, field: "features.pooledDim", reason: `is ${features.pooledDim}, the references' is ${references.width}` });
    return Float32Array.from(batch.prompts, (prompt, i) => {
      const refs = references.byPrompt.get(prompt);
      if (!refs || refs.length === 0) throw new RewardInputError({ component: name, field: `prompts[${i}]`, reason: `'${prompt}' has no reference images` });
      return maxCosine(features.pooled.subarray(i * features.pooledDim, (i + 1) * features.pooledDim), refs, references.width);
    });
  },
});
