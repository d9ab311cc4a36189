/**
 * Time per image of the reward path the loop runs on every sample: backbone features (preprocessing
 * graph + backbone) and the discriminator reward (head on CLS + 64 patches), at one batch size.
 */
import type { FeatureExtractor } from "../models/backbone/features.ts";
import { Discriminator } from "../models/discriminator/discriminator.ts";
import { DEFAULT_HEAD, samplePatchIndices } from "../models/discriminator/head.ts";
import { makeRng } from "../util/prng.ts";
import { measure } from "../util/measure.ts";

interface RewardBench {
  readonly batch: number;
  readonly featuresMsPerImage: number;
  readonly rewardMsPerImage: number;
}

export const benchFeaturesAndReward = async (extractor: FeatureExtractor, o: { readonly batch: number; readonly repeats: number }): Promise<RewardBench> => {
  const rng = makeRng(5);
  const size = extractor.config.size;
  const images = Array.from({ length: o.batch }, () => ({ data: rng.fillNormal(new Float32Array(3 * size * size)).map((v) => 0.5 + 0.1 * v), height: size, width: size }));
  const features = await extractor.extract(images);
  const discriminator = new Discriminator({ ...DEFAULT_HEAD, dim: features.dim }, features.patchCount, 1);
  const patchIndices = samplePatchIndices(rng, o.batch, features.patchCount, DEFAULT_HEAD.patchesPerImage);
  const featureTime = await measure(() => extractor.extract(images), o.repeats);
  const rewardTime = await measure(() => discriminator.score({ features, patchIndices }), o.repeats);
  await discriminator.release();
  return { batch: o.batch, featuresMsPerImage: featureTime.medianMs / o.batch, rewardMsPerImage: rewardTime.medianMs / o.batch };
};
