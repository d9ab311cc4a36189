/** A tiny generator and pipeline file for end-to-end tests: seconds per run on 2 cores. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DiTConfig } from "../../src/models/generator/dit.ts";
import { generatorParamSpecs, saveGeneratorWeights } from "../../src/models/generator/weights.ts";
import { initParams } from "../../src/nn/params.ts";
import { makeRng } from "../../src/util/prng.ts";

export const TINY_DIT: DiTConfig = { channels: 3, size: 32, patch: 8, width: 16, depth: 1, heads: 2, mlpRatio: 2, textWidth: 8 };

/** Random weights everywhere (adaLN-zero would make the velocity exactly zero). */
export const writeTinyGenerator = async (dir: string, seed = 1): Promise<string> => {
  const rng = makeRng(seed);
  const params = initParams(generatorParamSpecs(TINY_DIT), seed).map((p) => ({ ...p, data: p.data.map(() => 0.2 * rng.normal()) }));
  const file = join(dir, "tiny-generator.safetensors");
  await saveGeneratorWeights(file, { config: TINY_DIT, params, metadata: {} });
  return file;
};

/** A pipeline file over the tiny generator: 2 prompts x 4 samples per epoch, a G epoch every second epoch. */
export const writeTinyPipeline = (dir: string, generator: string, epochs: number, extra = ""): string => {
  const file = join(dir, "tiny.yaml");
  writeFileSync(
    file,
    [
      `extends: ${join(process.cwd(), "pipelines/default.yaml")}`,
      `run: { name: tiny, outputDir: ${join(dir, "runs")}, epochs: ${epochs}, keepCheckpoints: 0 }`,
      `generator: { checkpoint: ${generator} }`,
      "sampler: { groupSize: 4, promptsPerEpoch: 2, steps: 4, evalSteps: 4, window: { start: 0, size: 2 } }",
      "discriminator: { dTimes: 2, hiddenWidth: 32, warmupEpochs: 0 }",
      "eval: { every: 100, heldOutPrompts: 2 }",
      // Everything recorded, so replay also checks the tokens and tests can rewrite the log in any layout.
      "record: { batchRows: 8, storeFeatures: true, latentDtype: float32 }",
      extra,
    ].join("\n"),
  );
  return file;
};

const SD3_TINY_PRESET = join(process.cwd(), "pipelines/presets/sd3-architecture-tiny.yaml");

/** pipelines/presets/sd3-architecture-tiny.yaml with its run folder under `dir`, plus overrides. */
export const tinySd3Pipeline = (dir: string, extra = "", epochs = 4): string => {
  const file = join(dir, "sd3-tiny.yaml");
  writeFileSync(file, [`extends: ${SD3_TINY_PRESET}`, `run: { outputDir: ${join(dir, "runs")}, epochs: ${epochs} }`, extra].join("\n"));
  return file;
};
