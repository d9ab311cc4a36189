/**
 * `advgrpo eval <pipeline.yaml> [--weights generator.safetensors]`: evaluates a generator on the held-out
 * prompts exactly as a run does (ODE samples, alignment, style, aligned-and-styled, DINO similarity,
 * diversity) and writes the image grid into the run folder's grids/.
 */
import { Effect } from "effect";
import { decodePipelineConfig, loadPipelineFile } from "../pipeline/config/load.ts";
import { Evaluator } from "../pipeline/evaluation.ts";
import { buildPolicy } from "../pipeline/policy.ts";
import { loadReferences } from "../pipeline/references.ts";
import { buildRewardModel, loadBackbone } from "../pipeline/reward-model.ts";
import { createRunFolder, runFolderOf } from "../pipeline/run-folder.ts";
import { trainingPrompts } from "../pipeline/state.ts";

export const evalCommand = async (args: readonly string[]): Promise<void> => {
  const file = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--weights");
  if (!file) throw new Error("usage: advgrpo eval <pipeline.yaml> [--weights generator.safetensors]");
  const loaded = await Effect.runPromise(loadPipelineFile(file));
  const weights = args[args.indexOf("--weights") + 1];
  const config = args.includes("--weights") && weights
    ? await Effect.runPromise(decodePipelineConfig({ ...loaded, generator: { ...loaded.generator, checkpoint: weights } }, file))
    : loaded;
  const execution = { providers: config.compute.executionProviders, intraOpThreads: config.compute.intraOpThreads, spinning: config.compute.allowSpinning };
  const folder = runFolderOf(config);
  createRunFolder(folder);
  const policy = await buildPolicy(config, execution);
  const features = await loadBackbone(config, execution);
  const rewards = await buildRewardModel(config, features, await loadReferences(config, trainingPrompts(config), features, policy.imageSize), execution);
  const evaluator = await Evaluator.create(config, policy, rewards, folder.root, execution);
  try {
    const metrics = await evaluator.evaluate(0);
    for (const [name, value] of Object.entries(metrics)) process.stdout.write(`${name.padEnd(20)} ${value.toFixed(4)}\n`);
    process.stdout.write(`grid: ${folder.grids}\n`);
  } finally {
    await Promise.all([policy.release(), rewards.release(), evaluator.release()]);
  }
};
