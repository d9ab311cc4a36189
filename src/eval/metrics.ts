/**
 * Evaluation metrics of generated images of the shapes world. Per image: alignment (the analyser, attribute by
 * attribute), the style classifier's probability of the target style and its verdict, and optionally the DINO
 * similarity to the prompt's references. Over a set: their rates, the headline **aligned-and-styled** rate (the
 * fraction of images that are BOTH aligned and judged target-style, counted per image, so it is at most the
 * smaller of the two rates and can be 0 when both are 50%), and the diversity within groups of one prompt.
 *
 * Never report a style figure alone: damaged images lose alignment, and the classifier calls damage "other",
 * but only the per-image AND guards against a generator that trades alignment for texture.
 */
import { Schema } from "effect";
import type { RgbImage } from "../io/png.ts";
import { checkAlignment } from "../world/analyse.ts";
import type { ReferenceStyle } from "../world/render.ts";
import type { ShapeAttributes } from "../world/vocabulary.ts";
import type { StyleClassifier, StyleVerdict } from "./style-classifier.ts";

/** Inputs that do not line up (lengths, feature widths, image sizes). */
export class MetricsInputError extends Schema.TaggedError<MetricsInputError>()("MetricsInputError", {
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `evaluation metrics: ${this.field}: expected ${this.expected}, found ${this.found}`;
  }
}

const ATTRIBUTES = ["colour", "shape", "size", "background", "position"] as const;
type AttributeName = (typeof ATTRIBUTES)[number];

export interface EvalSample {
  readonly image: RgbImage;
  /** The prompt the image was generated for. */
  readonly attributes: ShapeAttributes;
  /** Images generated for the same prompt share a group; diversity is measured within each group. */
  readonly group: string | number;
}

/** Pooled backbone features of each sample and the features of its prompt's reference images. */
export interface SimilarityFeatures {
  readonly generated: readonly Float32Array[];
  readonly references: readonly (readonly Float32Array[])[];
}

interface SampleScores {
  readonly aligned: boolean;
  readonly matches: Readonly<Record<AttributeName, boolean>>;
  /** The classifier's probability of the target style. */
  readonly styleScore: number;
  /** The classifier's most probable class is the target style. */
  readonly styled: boolean;
  readonly alignedAndStyled: boolean;
  /** Cosine to the closest reference; null without features. */
  readonly dinoSimilarity: number | null;
}

interface EvaluationMetrics {
  readonly count: number;
  readonly targetStyle: ReferenceStyle;
  readonly alignment: number;
  /** Mean probability of the target style. */
  readonly styleScore: number;
  readonly styledRate: number;
  /** The headline: fraction of images both aligned and classified target-style. */
  readonly alignedAndStyled: number;
  readonly attributeMatch: Readonly<Record<AttributeName, number>>;
  /** Mean within-group pairwise RMS pixel distance (see pairwiseDiversity); null when no group has two images. */
  readonly diversity: number | null;
  readonly dinoSimilarity: number | null;
}

const requireLength = (field: string, found: number, expected: number): void => {
  if (found !== expected) throw new MetricsInputError({ field, expected: `${expected} entries (one per sample)`, found: `${found}` });
};

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
const rate = (flags: readonly boolean[]): number => mean(flags.map((f) => (f ? 1 : 0)));

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Cosine similarity of L2-normalised features, max over the references (docs/algorithm.md §3, static DINO similarity). */
export const dinoSimilarity = (feature: Float32Array, references: readonly Float32Array[]): number => {
  if (references.length === 0) throw new MetricsInputError({ field: "references", expected: "at least one reference feature", found: "none" });
  const featureNorm = norm(feature);
  return Math.max(
    ...references.map((reference, r) => {
      if (reference.length !== feature.length) {
        throw new MetricsInputError({ field: `references[${r}]`, expected: `a feature of width ${feature.length}`, found: `width ${reference.length}` });
      }
      const dot = feature.reduce((s, x, i) => s + x * reference[i]!, 0);
      return dot / Math.max(featureNorm * norm(reference), 1e-12);
    }),
  );
};

/** Root-mean-square difference per pixel value, in [0, 1] for images in [0, 1]: ||a - b||_2 / sqrt(3HW). */
const rmsDistance = (a: RgbImage, b: RgbImage): number => {
  if (a.data.length !== b.data.length) throw new MetricsInputError({ field: "image", expected: `${a.data.length} values like the group's first`, found: `${b.data.length}` });
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i]! - b.data[i]!) ** 2;
  return Math.sqrt(sum / a.data.length);
};

/** Mean RMS pixel distance over all pairs of a group's images: 0 for identical images; null below two images. */
export const pairwiseDiversity = (images: readonly RgbImage[]): number | null => {
  const distances: number[] = [];
  for (let i = 0; i < images.length; i++) for (let j = i + 1; j < images.length; j++) distances.push(rmsDistance(images[i]!, images[j]!));
  return distances.length === 0 ? null : mean(distances);
};

/** Mean over groups of two or more images of their pairwise diversity. */
export const groupDiversity = (samples: readonly Pick<EvalSample, "image" | "group">[]): number | null => {
  const groups = new Map<string | number, RgbImage[]>();
  for (const s of samples) {
    const group = groups.get(s.group);
    if (group) group.push(s.image);
    else groups.set(s.group, [s.image]);
  }
  const perGroup = [...groups.values()].map(pairwiseDiversity).filter((d): d is number => d !== null);
  return perGroup.length === 0 ? null : mean(perGroup);
};

/** Per-image scores; `verdicts` (and `features`, when given) line up with `samples`. */
export const scoreSamples = (
  samples: readonly EvalSample[],
  verdicts: readonly StyleVerdict[],
  targetStyle: ReferenceStyle,
  features?: SimilarityFeatures,
): SampleScores[] => {
  requireLength("verdicts", verdicts.length, samples.length);
  if (features) {
    requireLength("features.generated", features.generated.length, samples.length);
    requireLength("features.references", features.references.length, samples.length);
  }
  return samples.map((sample, i) => {
    const alignment = checkAlignment(sample.image, sample.attributes);
    const verdict = verdicts[i]!;
    const styled = verdict.label === targetStyle;
    return {
      aligned: alignment.aligned,
      matches: Object.fromEntries(ATTRIBUTES.map((a) => [a, alignment[a]])) as Record<AttributeName, boolean>,
      styleScore: verdict.probabilities[targetStyle],
      styled,
      alignedAndStyled: alignment.aligned && styled,
      dinoSimilarity: features ? dinoSimilarity(features.generated[i]!, features.references[i]!) : null,
    };
  });
};

export const summarise = (samples: readonly EvalSample[], scores: readonly SampleScores[], targetStyle: ReferenceStyle): EvaluationMetrics => {
  if (samples.length === 0) throw new MetricsInputError({ field: "samples", expected: "at least one sample", found: "none" });
  requireLength("scores", scores.length, samples.length);
  const similarities = scores.map((s) => s.dinoSimilarity).filter((s): s is number => s !== null);
  return {
    count: samples.length,
    targetStyle,
    alignment: rate(scores.map((s) => s.aligned)),
    styleScore: mean(scores.map((s) => s.styleScore)),
    styledRate: rate(scores.map((s) => s.styled)),
    alignedAndStyled: rate(scores.map((s) => s.alignedAndStyled)),
    attributeMatch: Object.fromEntries(ATTRIBUTES.map((a) => [a, rate(scores.map((s) => s.matches[a]))])) as Record<AttributeName, number>,
    diversity: groupDiversity(samples),
    dinoSimilarity: similarities.length === scores.length ? mean(similarities) : null,
  };
};

interface Evaluation {
  readonly perSample: readonly SampleScores[];
  readonly summary: EvaluationMetrics;
}

/** Classifies the samples and computes every metric. */
export const evaluateSamples = async (
  classifier: StyleClassifier,
  samples: readonly EvalSample[],
  targetStyle: ReferenceStyle,
  features?: SimilarityFeatures,
): Promise<Evaluation> => {
  const verdicts = await classifier.classify(samples.map((s) => s.image));
  const perSample = scoreSamples(samples, verdicts, targetStyle, features);
  return { perSample, summary: summarise(samples, perSample, targetStyle) };
};
