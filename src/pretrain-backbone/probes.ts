/**
 * Linear probes of a backbone on the shapes world: base vs reference style, style, colour, shape,
 * background. Fitted on training prompts, tested on held-out prompts with other seeds.
 */
import type { RgbImage } from "../io/png.ts";
import type { FeatureExtractor } from "../models/backbone/features.ts";
import { ridgeProbeAccuracy } from "../models/backbone/probe.ts";
import { makeRng } from "../util/prng.ts";
import { promptsOf, type PromptSplit } from "../world/prompt.ts";
import { render, STYLES } from "../world/render.ts";
import { BACKGROUNDS, COLOURS, SHAPES, type ShapeAttributes } from "../world/vocabulary.ts";

type Label = (prompt: ShapeAttributes, style: number) => number;

const PROBES: readonly (readonly [string, number, Label])[] = [
  ["base vs reference style", 2, (_, s) => (s === 0 ? 0 : 1)],
  ["style (base/shaded/striped)", STYLES.length, (_, s) => s],
  ["colour", COLOURS.length, (p) => COLOURS.indexOf(p.colour)],
  ["shape", SHAPES.length, (p) => SHAPES.indexOf(p.shape)],
  ["background", BACKGROUNDS.length, (p) => BACKGROUNDS.indexOf(p.background)],
];

/** Held-out accuracy of each probe on the pooled features, `count` images per split, styles in rotation. */
export const linearProbes = async (extractor: FeatureExtractor, count: number, seed = 101): Promise<Record<string, number>> => {
  const sample = async (split: PromptSplit, rng = makeRng(seed).fork(split)) => {
    const prompts = promptsOf(split);
    const items = Array.from({ length: count }, (_, i) => {
      const prompt = prompts[rng.int(prompts.length)]!;
      const style = i % STYLES.length;
      return { prompt, style, image: render(prompt, STYLES[style]!, rng.fork(i)) as RgbImage };
    });
    return { items, features: await extractor.extract(items.map((it) => it.image)) };
  };
  const train = await sample("train");
  const test = await sample("heldout");
  const data = (s: typeof train, label: Label) => ({ features: s.features.pooled, width: s.features.pooledDim, labels: s.items.map((it) => label(it.prompt, it.style)) });
  return Object.fromEntries(PROBES.map(([name, classes, label]) => [name, ridgeProbeAccuracy(data(train, label), data(test, label), classes)]));
};
