/**
 * The discriminator's calibration on the shapes world: references (a reference style) positive, base
 * renders negative, trained on training prompts with the algorithm's optimiser for a fixed number of
 * full-batch steps; held-out accuracy on held-out prompts and seeds (and the first step reaching the
 * target); then the robustness probe: degraded base images must score below the reference render of
 * the same prompt and seed.
 */
import type { RgbImage } from "../io/png.ts";
import type { Features, FeatureExtractor } from "../models/backbone/features.ts";
import { DEFAULT_DISCRIMINATOR_OPTIM, Discriminator, type OptimConfig } from "../models/discriminator/discriminator.ts";
import { DEFAULT_HEAD, discriminatorAccuracy, samplePatchIndices } from "../models/discriminator/head.ts";
import { makeRng, type Rng } from "../util/prng.ts";
import { degrade, DEGRADATIONS, type Degradation } from "../world/degrade.ts";
import { promptsOf, type PromptSplit } from "../world/prompt.ts";
import { render, type ReferenceStyle } from "../world/render.ts";
import type { ShapeAttributes } from "../world/vocabulary.ts";

interface ExperimentOptions {
  readonly trainImages: number;
  readonly testImages: number;
  /** Full-batch discriminator steps (the robustness probe uses the head after all of them). */
  readonly steps: number;
  readonly evalEvery: number;
  readonly targetAccuracy: number;
  readonly referenceStyle: ReferenceStyle;
  readonly seed: number;
  readonly optim?: OptimConfig;
  /** Called after every held-out evaluation. */
  readonly onEvaluation?: (step: number, heldoutAccuracy: number, trainAccuracy: number, loss: number) => void;
}

export const DEFAULT_EXPERIMENT: ExperimentOptions = {
  trainImages: 512,
  testImages: 128,
  steps: 500,
  evalEvery: 25,
  targetAccuracy: 0.95,
  referenceStyle: "shaded",
  seed: 11,
};

interface ExperimentResult {
  /** First evaluated step at which held-out accuracy reached the target, or undefined. */
  readonly stepsToTarget: number | undefined;
  /** Held-out accuracy after all steps. */
  readonly heldoutAccuracy: number;
  readonly trainAccuracy: number;
  /** Share of (degraded base, reference) pairs where the reference scores higher, per degradation and overall. */
  readonly robustness: Readonly<Record<Degradation | "all", number>>;
  /** Mean rewards on held-out images, for orientation. */
  readonly meanReward: { readonly reference: number; readonly base: number; readonly degraded: number };
}

interface Pairs {
  readonly prompts: readonly ShapeAttributes[];
  readonly seeds: readonly Rng[];
}

const drawPairs = (split: PromptSplit, count: number, rng: Rng): Pairs => {
  const prompts = promptsOf(split);
  const chosen = Array.from({ length: count }, () => prompts[rng.int(prompts.length)]!);
  return { prompts: chosen, seeds: chosen.map((_, i) => rng.fork(i)) };
};

const renders = (p: Pairs, style: "base" | ReferenceStyle): RgbImage[] => p.prompts.map((prompt, i) => render(prompt, style, p.seeds[i]!.fork("render")));

const mean = (xs: ArrayLike<number>): number => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

export const styleDiscriminatorExperiment = async (extractor: FeatureExtractor, o: ExperimentOptions = DEFAULT_EXPERIMENT): Promise<ExperimentResult> => {
  const rng = makeRng(o.seed);
  const train = drawPairs("train", o.trainImages, rng.fork("train"));
  const test = drawPairs("heldout", o.testImages, rng.fork("test"));
  const trainRef = await extractor.extract(renders(train, o.referenceStyle));
  const trainGen = await extractor.extract(renders(train, "base"));
  const testRef = await extractor.extract(renders(test, o.referenceStyle));
  const testGen = await extractor.extract(renders(test, "base"));
  const n = trainRef.patchCount;
  const discriminator = new Discriminator({ ...DEFAULT_HEAD, dim: trainRef.dim }, n, o.seed, o.optim ?? DEFAULT_DISCRIMINATOR_OPTIM);
  const indices = (f: Features, label: string | number) => samplePatchIndices(rng.fork(label), f.batch, n, DEFAULT_HEAD.patchesPerImage);
  const evaluate = async (ref: Features, gen: Features, label: string) =>
    discriminatorAccuracy((await discriminator.score({ features: ref, patchIndices: indices(ref, `${label}-ref`) })).cls, (await discriminator.score({ features: gen, patchIndices: indices(gen, `${label}-gen`) })).cls);

  let stepsToTarget: number | undefined;
  let heldoutAccuracy = 0;
  let trainAccuracy = 0;
  for (let step = 1; step <= o.steps; step++) {
    const metrics = await discriminator.step(
      { features: trainRef, patchIndices: indices(trainRef, `step${step}-ref`) },
      { features: trainGen, patchIndices: indices(trainGen, `step${step}-gen`) },
    );
    trainAccuracy = metrics.accuracy;
    if (step % o.evalEvery === 0 || step === o.steps) {
      heldoutAccuracy = await evaluate(testRef, testGen, "eval");
      if (stepsToTarget === undefined && heldoutAccuracy >= o.targetAccuracy) stepsToTarget = step;
      o.onEvaluation?.(step, heldoutAccuracy, trainAccuracy, metrics.loss);
    }
  }

  const refRewards = (await discriminator.score({ features: testRef, patchIndices: indices(testRef, "probe-ref") })).reward;
  const baseRewards = (await discriminator.score({ features: testGen, patchIndices: indices(testGen, "probe-base") })).reward;
  const base = renders(test, "base");
  const robustness: Partial<Record<Degradation | "all", number>> = {};
  const degradedMeans: number[] = [];
  let wins = 0;
  for (const kind of DEGRADATIONS) {
    const damaged = await extractor.extract(base.map((im, i) => degrade(im, kind, test.seeds[i]!.fork(`degrade-${kind}`))));
    const rewards = (await discriminator.score({ features: damaged, patchIndices: indices(damaged, `probe-${kind}`) })).reward;
    const kindWins = Array.from(rewards).filter((r, i) => r < refRewards[i]!).length;
    robustness[kind] = kindWins / rewards.length;
    wins += kindWins;
    degradedMeans.push(mean(rewards));
  }
  robustness.all = wins / (DEGRADATIONS.length * o.testImages);
  await discriminator.release();
  return {
    stepsToTarget,
    heldoutAccuracy,
    trainAccuracy,
    robustness: robustness as Record<Degradation | "all", number>,
    meanReward: { reference: mean(refRewards), base: mean(baseRewards), degraded: mean(degradedMeans) },
  };
};
