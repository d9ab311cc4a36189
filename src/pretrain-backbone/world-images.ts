/**
 * The pretraining distribution: the world's training prompts rendered in every style, plus a degraded
 * copy (noise, speckle, blur, smear, shrink, break), drawn as groups that share one geometry. In a
 * batch the other members of an image's group are its hardest negatives, so damage and style are
 * things the features must separate, not things they never met.
 */
import type { RgbImage } from "../io/png.ts";
import type { Rng } from "../util/prng.ts";
import { degrade, DEGRADATIONS } from "../world/degrade.ts";
import { promptsOf } from "../world/prompt.ts";
import { render, STYLES } from "../world/render.ts";

/** base, shaded, striped renders of one prompt and seed, then one of them degraded. */
export const GROUP_SIZE = STYLES.length + 1;

export const sampleGroup = (rng: Rng, size: number): RgbImage[] => {
  const prompts = promptsOf("train");
  const prompt = prompts[rng.int(prompts.length)]!;
  // One forked stream per style, all with the same label, gives the same geometry in every style (render.ts).
  const renders = STYLES.map((style) => render(prompt, style, rng.fork("render"), { size }));
  const damaged = degrade(renders[rng.int(renders.length)]!, DEGRADATIONS[rng.int(DEGRADATIONS.length)]!, rng.fork("degrade"));
  return [...renders, damaged];
};
