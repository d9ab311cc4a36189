/**
 * Training batches for flow-matching pretraining: renders of the world's TRAINING prompts (held-out prompts never
 * appear), base style unless a style mix is given, fresh geometry jitter every time, so the data never repeats.
 */
import { formatPrompt, promptsOf } from "../world/prompt.ts";
import { render, type ReferenceStyle } from "../world/render.ts";
import type { Rng } from "../util/prng.ts";
import type { Feeds } from "../runtime/tensors.ts";
import { hostTensor } from "../runtime/tensors.ts";
import { bagOfWords } from "../models/text/bag-of-words.ts";
import { writeModelImage } from "../models/generator/pixels.ts";
import { TRAIN_INPUTS } from "../models/generator/network.ts";

interface BatchOptions {
  readonly batch: number;
  readonly size: number;
  /** Fraction of prompts replaced by the empty prompt, so the model also learns the unconditional velocity for CFG. */
  readonly promptDropout: number;
  /**
   * Fraction of images rendered in each reference style instead of the base style, with the same prompt (the
   * style is never named). Gives the base model the small, unprompted share of reference-like samples that a
   * large pretrained generator has; Adv-GRPO's job is then to move the distribution toward it. Empty: base only.
   */
  readonly styleMix: Readonly<Partial<Record<ReferenceStyle, number>>>;
}

/** The style of the next image: base unless a uniform draw lands in one reference style's share. */
const drawStyle = (rng: Rng, mix: BatchOptions["styleMix"]): "base" | ReferenceStyle => {
  const shares = Object.entries(mix) as [ReferenceStyle, number][];
  if (shares.length === 0) return "base";
  let u = rng.next();
  for (const [style, share] of shares) {
    if (u < share) return style;
    u -= share;
  }
  return "base";
};

/**
 * Draws one batch from `rng` (prompt, render jitter, dropout, t, noise, in that order per sample).
 * t ~ U[0, 1): the sampler's shifted schedule spends most of its steps at high noise, where the layout is
 * decided, and a logit-normal t (SD3's choice for large models) would under-train exactly that end.
 */
export const sampleBatch = (rng: Rng, options: BatchOptions): Feeds => {
  const train = promptsOf("train");
  const { batch, size } = options;
  const plane = 3 * size * size;
  const images = new Float32Array(batch * plane);
  const noise = new Float32Array(batch * plane);
  const t = new Float32Array(batch);
  const prompts: string[] = [];
  for (let b = 0; b < batch; b++) {
    const attributes = train[rng.int(train.length)]!;
    writeModelImage(render(attributes, drawStyle(rng, options.styleMix), rng, { size }), images, b);
    prompts.push(rng.next() < options.promptDropout ? "" : formatPrompt(attributes));
    t[b] = rng.next();
    rng.fillNormal(noise.subarray(b * plane, (b + 1) * plane));
  }
  const shape = [batch, 3, size, size];
  return {
    [TRAIN_INPUTS.images]: hostTensor("float32", shape, images),
    [TRAIN_INPUTS.noise]: hostTensor("float32", shape, noise),
    [TRAIN_INPUTS.t]: hostTensor("float32", [batch], t),
    [TRAIN_INPUTS.words]: bagOfWords(prompts),
  };
};
