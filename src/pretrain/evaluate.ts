/**
 * Samples the pretrained generator on prompts of the world and scores the images with the world's alignment
 * analyser (the GenEval analogue). The generator runs through its ONNX export and the external-model contract,
 * the same path a user's model takes.
 */
import { FlowSampler } from "../flow/sampler.ts";
import { sigmaSchedule } from "../flow/schedule.ts";
import { odeMethod, type StepMethod } from "../flow/steps.ts";
import type { RgbImage } from "../io/png.ts";
import { loadGeneratorModel } from "../models/generator/contract.ts";
import { generatorOnnx } from "../models/generator/export.ts";
import { readModelImage } from "../models/generator/pixels.ts";
import { guidedVelocity } from "../models/generator/sampling.ts";
import type { GeneratorWeights } from "../models/generator/weights.ts";
import { bagOfWordsEncoder } from "../models/text/bag-of-words.ts";
import { checkAlignment } from "../world/analyse.ts";
import { formatPrompt } from "../world/prompt.ts";
import type { ShapeAttributes } from "../world/vocabulary.ts";

interface EvaluateOptions {
  readonly prompts: readonly ShapeAttributes[];
  /** Seeds per prompt; sample (p, s) uses seed `seedBase + s`. */
  readonly seeds: number;
  readonly seedBase?: number;
  /** Default 10 steps, shift 1 (a small model at 32 px needs no high-noise emphasis). */
  readonly steps?: number;
  readonly shift?: number;
  /** Classifier-free guidance weight; default 3. */
  readonly guidance?: number;
  readonly method?: StepMethod;
  /** Images per sampler batch (the ONNX export is made for twice this with guidance). Default 36. */
  readonly batch?: number;
}

interface AttributeRates {
  readonly aligned: number;
  readonly background: number;
  readonly colour: number;
  readonly shape: number;
  readonly size: number;
  readonly position: number;
}

interface Evaluation {
  /** images[p][s]: prompt p, seed s. */
  readonly images: readonly (readonly RgbImage[])[];
  /** Fraction of images fully aligned, and per attribute. */
  readonly rates: AttributeRates;
}

export const evaluateGenerator = async (weights: GeneratorWeights, options: EvaluateOptions): Promise<Evaluation> => {
  const { config } = weights;
  const guidance = options.guidance ?? 3;
  const batch = options.batch ?? 36;
  const jobs = options.prompts.flatMap((prompt, p) => Array.from({ length: options.seeds }, (_, s) => ({ prompt, p, s, seed: (options.seedBase ?? 0) + s })));
  const encoder = bagOfWordsEncoder(weights.params);
  const sampler = FlowSampler.create({
    latentShape: [config.channels, config.size, config.size],
    schedule: sigmaSchedule(options.steps ?? 10, options.shift ?? 1),
    window: { start: 0, size: options.method && options.method.kind !== "ode" ? 2 : 0 },
    method: options.method ?? odeMethod,
  });
  const models = new Map<number, Awaited<ReturnType<typeof loadGeneratorModel>>>();
  const modelFor = async (n: number) => {
    const exportBatch = guidance === 1 ? n : 2 * n;
    if (!models.has(exportBatch)) models.set(exportBatch, await loadGeneratorModel(generatorOnnx(config, weights.params, exportBatch), `embedded generator (batch ${exportBatch})`));
    return models.get(exportBatch)!;
  };

  const images: RgbImage[][] = options.prompts.map(() => []);
  const totals = { aligned: 0, background: 0, colour: 0, shape: 0, size: 0, position: 0 };
  for (let start = 0; start < jobs.length; start += batch) {
    const chunk = jobs.slice(start, start + batch);
    const cond = await encoder.encode(chunk.map((j) => formatPrompt(j.prompt)));
    const uncond = await encoder.encode(chunk.map(() => ""));
    const velocity = guidedVelocity(await modelFor(chunk.length), cond, uncond, guidance);
    const { latents } = await sampler.sample(velocity, chunk.map((j) => j.seed));
    chunk.forEach((job, i) => {
      const image = readModelImage(latents, i, config.size, config.size);
      images[job.p]![job.s] = image;
      const a = checkAlignment(image, job.prompt);
      for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += a[key] ? 1 : 0;
    });
  }
  await Promise.all([...models.values()].map((m) => m.release()));
  await sampler.release();
  const rates = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, v / jobs.length])) as unknown as AttributeRates;
  return { images, rates };
};
