/**
 * The reference images of the run (positives of the discriminator, targets of similarity rewards and metrics),
 * with their backbone features computed once per prompt on first use.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Effect } from "effect";
import type { RgbImage } from "../io/png.ts";
import { defaultReferenceSet, loadReferenceSet, MANIFEST, type ReferenceSet } from "../io/reference-set.ts";
import { loadStyleFolder } from "../io/style-folder.ts";
import type { FeatureExtractor, Features } from "../models/backbone/features.ts";
import type { PipelineConfig } from "./config/schema.ts";

export class ReferenceLibrary {
  readonly set: ReferenceSet;
  private readonly extractor: FeatureExtractor;
  private readonly cache = new Map<string, Features>();
  /** Pooled features by prompt, filled as prompts are first used (the similarity reward reads it). */
  readonly pooledByPrompt = new Map<string, Float32Array>();

  constructor(set: ReferenceSet, extractor: FeatureExtractor) {
    this.set = set;
    this.extractor = extractor;
  }

  images(prompt: string): readonly RgbImage[] {
    const images = this.set.images.get(prompt);
    if (!images || images.length === 0) throw new Error(`the reference set has no images for the prompt '${prompt}'`);
    return images;
  }

  async features(prompt: string): Promise<Features> {
    let features = this.cache.get(prompt);
    if (!features) {
      features = await this.extractor.extract(this.images(prompt));
      this.cache.set(prompt, features);
      this.pooledByPrompt.set(prompt, features.pooled);
    }
    return features;
  }

  /** Makes sure every prompt's features are cached. */
  async prepare(prompts: readonly string[]): Promise<void> {
    for (const prompt of new Set(prompts)) await this.features(prompt);
  }
}

/**
 * A user's references: a manifest (the file, or a folder holding manifest.json) pairs prompts with images; a
 * folder without one is an unpaired style folder. Either way images are resized and centre-cropped to the
 * generated images' size, so references and samples reach the backbone through the same resize: a
 * discriminator must not be able to tell them apart by resampling alone.
 */
const loadUserReferences = async (source: string, prompts: readonly string[], perPrompt: number, size: number): Promise<ReferenceSet> => {
  const isFile = statSync(source, { throwIfNoEntry: false })?.isFile() ?? false;
  if (isFile || existsSync(join(source, MANIFEST))) {
    const [folder, manifest] = isFile ? [dirname(source), basename(source)] : [source, MANIFEST];
    return Effect.runPromise(loadReferenceSet(folder, { knownPrompts: new Set(prompts), fit: size, manifest }));
  }
  return loadStyleFolder(source, prompts, { perPrompt, size });
};

/** `imageSize`: height = width of the generator's images (Policy.imageSize). */
export const loadReferences = async (config: PipelineConfig, prompts: readonly string[], extractor: FeatureExtractor, imageSize: number): Promise<ReferenceLibrary> => {
  const { source, perPrompt } = config.references;
  const set =
    source === "embedded"
      ? defaultReferenceSet({ perPrompt, style: config.world.referenceStyle, split: "train", seed: config.run.seed, size: config.world.imageSize })
      : await loadUserReferences(source, prompts, perPrompt, imageSize);
  return new ReferenceLibrary(set, extractor);
};
