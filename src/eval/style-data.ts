/**
 * Labelled images for the style classifier, drawn from the shapes world.
 *
 * Positives are clean renders in a reference style. "other" is everything a generator could produce that is
 * not that: base renders, every degradation of every style (a damaged shaded render is not "shaded", however
 * shaded its colours still are), pure noise and blank frames. Training draws degradation strengths around the
 * world's default (1 = clearly visible), so "other" means "visibly damaged", not "exactly strength 1".
 */
import type { RgbImage } from "../io/png.ts";
import type { Rng } from "../util/prng.ts";
import { DEGRADATIONS, degrade, type Degradation } from "../world/degrade.ts";
import { render, STYLES, type StyleName } from "../world/render.ts";
import type { ShapeAttributes } from "../world/vocabulary.ts";
import type { StyleClass } from "./style-net.ts";

/** Where an example came from: a render (maybe damaged), or an image with no shape at all. */
export type ExampleSource =
  | { readonly kind: "render"; readonly style: StyleName; readonly degradation: Degradation | null }
  | { readonly kind: "noise" }
  | { readonly kind: "blank" };

export interface StyleExample {
  readonly image: RgbImage;
  readonly source: ExampleSource;
  readonly label: StyleClass;
}

export const labelOf = (source: ExampleSource): StyleClass =>
  source.kind === "render" && source.degradation === null && source.style !== "base" ? source.style : "other";

/** Training draws damage strengths from this range; the held-out report uses strength 1. */
const STRENGTH_RANGE = [0.6, 1.4] as const;

const uniformNoise = (rng: Rng, size: number): RgbImage => {
  const data = new Float32Array(3 * size * size);
  for (let i = 0; i < data.length; i++) data[i] = rng.next();
  return { data, height: size, width: size };
};

const blank = (rng: Rng, size: number): RgbImage => {
  const plane = size * size;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) data.fill(rng.next(), c * plane, (c + 1) * plane);
  return { data, height: size, width: size };
};

/** Makes the image a source describes; `strength` scales a degradation. */
export const makeExample = (source: ExampleSource, attributes: ShapeAttributes, rng: Rng, size: number, strength = 1): StyleExample => {
  const image =
    source.kind === "noise"
      ? uniformNoise(rng, size)
      : source.kind === "blank"
        ? blank(rng, size)
        : source.degradation === null
          ? render(attributes, source.style, rng, { size })
          : degrade(render(attributes, source.style, rng, { size }), source.degradation, rng, strength);
  return { image, source, label: labelOf(source) };
};

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;

/**
 * The training mixture: a quarter each of clean "shaded" and clean "striped", and half "other", weighted toward
 * the hard negatives: 70% damaged reference renders, 10% damaged base renders, 12% clean base renders,
 * 4% noise and 4% blanks. Shrink and break leave the style's texture intact and change only the geometry, so
 * they are the hardest damage to see and are drawn three times as often as the texture damage.
 */
const REFERENCE_STYLES = ["shaded", "striped"] as const;
const DAMAGE_MIX: readonly Degradation[] = DEGRADATIONS.flatMap((d) => (d === "shrink" || d === "break" ? [d, d, d] : [d]));
const drawSource = (rng: Rng): ExampleSource => {
  const quarter = rng.int(4);
  if (quarter < 2) return { kind: "render", style: REFERENCE_STYLES[quarter]!, degradation: null };
  const u = rng.next();
  if (u < 0.7) return { kind: "render", style: pick(rng, REFERENCE_STYLES), degradation: pick(rng, DAMAGE_MIX) };
  if (u < 0.8) return { kind: "render", style: "base", degradation: pick(rng, DEGRADATIONS) };
  if (u < 0.92) return { kind: "render", style: "base", degradation: null };
  return u < 0.96 ? { kind: "noise" } : { kind: "blank" };
};

/** One training example over `prompts`, with a random damage strength in STRENGTH_RANGE. */
export const drawExample = (rng: Rng, prompts: readonly ShapeAttributes[], size: number): StyleExample => {
  const source = drawSource(rng);
  const strength = STRENGTH_RANGE[0] + (STRENGTH_RANGE[1] - STRENGTH_RANGE[0]) * rng.next();
  return makeExample(source, pick(rng, prompts), rng, size, strength);
};

/** Every source an evaluation reports on separately: clean renders per style, each style x each damage, noise, blank. */
export const EVALUATION_SOURCES: readonly ExampleSource[] = [
  ...STYLES.map((style): ExampleSource => ({ kind: "render", style, degradation: null })),
  ...STYLES.flatMap((style) => DEGRADATIONS.map((degradation): ExampleSource => ({ kind: "render", style, degradation }))),
  { kind: "noise" },
  { kind: "blank" },
];

export const describeSource = (source: ExampleSource): string =>
  source.kind !== "render" ? source.kind : source.degradation === null ? source.style : `${source.style}+${source.degradation}`;
