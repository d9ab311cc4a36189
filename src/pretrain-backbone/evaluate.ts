/**
 * What the committed backbone's features are worth: linear probes, then the discriminator calibration
 * (held-out accuracy, robustness to degraded base images), then features + reward time per image.
 *
 *   node src/pretrain-backbone/evaluate.ts [weights/backbone/backbone.onnx]
 */
import { DEFAULT_BACKBONE } from "../models/backbone/default.ts";
import { FeatureExtractor } from "../models/backbone/features.ts";
import { benchFeaturesAndReward } from "../bench/reward.ts";
import type { ReferenceStyle } from "../world/render.ts";
import { linearProbes } from "./probes.ts";
import { DEFAULT_EXPERIMENT, styleDiscriminatorExperiment } from "./style-experiment.ts";

const REFERENCE_STYLES: readonly ReferenceStyle[] = ["shaded", "striped"];

const [file = "weights/backbone/backbone.onnx"] = process.argv.slice(2);
const extractor = await FeatureExtractor.open(file, DEFAULT_BACKBONE);
for (const [name, accuracy] of Object.entries(await linearProbes(extractor, 600))) console.log(`probe ${name}: ${(100 * accuracy).toFixed(1)}%`);
for (const referenceStyle of REFERENCE_STYLES) {
  const r = await styleDiscriminatorExperiment(extractor, {
    ...DEFAULT_EXPERIMENT,
    referenceStyle,
    onEvaluation: (step, heldout) => step % 100 === 0 && console.log(`  step ${step}: held-out accuracy ${(100 * heldout).toFixed(1)}%`),
  });
  console.log(
    `discriminator base vs ${referenceStyle}: held-out accuracy ${(100 * r.heldoutAccuracy).toFixed(1)}% after ${DEFAULT_EXPERIMENT.steps} steps (train ${(100 * r.trainAccuracy).toFixed(1)}%), ` +
      `${DEFAULT_EXPERIMENT.targetAccuracy * 100}% first reached at step ${r.stepsToTarget ?? "never"}`,
  );
  console.log(`  robustness (reference beats degraded base): ${Object.entries(r.robustness).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(", ")}`);
  console.log(`  mean reward: reference ${r.meanReward.reference.toFixed(3)}, base ${r.meanReward.base.toFixed(3)}, degraded ${r.meanReward.degraded.toFixed(3)}`);
}
const bench = await benchFeaturesAndReward(extractor, { batch: 16, repeats: 5 });
console.log(`benchmark (batch ${bench.batch}): features ${bench.featuresMsPerImage.toFixed(3)} ms/image, reward ${bench.rewardMsPerImage.toFixed(3)} ms/image`);
await extractor.release();
