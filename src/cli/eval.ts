/**
 * `advgrpo eval <pipeline.yaml> [--weights generator.safetensors]`: evaluates a generator on the held-out
 * prompts exactly as a run does (ODE samples, alignment, style, aligned-and-styled, DINO similarity,
 * diversity) and writes the image grid into the run folder's grids/.
 */
import { Effect } from "effect";
import { decodePipelineConfig, loadPipelineFile } from "../pipeline/config/load.ts";
import { buildRun, withRun } from "../pipeline/compose.ts";
import { createRunFolder, runFolderOf } from "../pipeline/run-folder.ts";

export const evalCommand = async (args: readonly string[]): Promise<void> => {
  const file = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--weights");
  if (!file) throw new Error("usage: advgrpo eval <pipeline.yaml> [--weights generator.safetensors]");
  const loaded = await Effect.runPromise(loadPipelineFile(file));
  const weights = args[args.indexOf("--weights") + 1];
  const config = args.includes("--weights") && weights
    ? await Effect.runPromise(decodePipelineConfig({ ...loaded, generator: { ...loaded.generator, checkpoint: weights } }, file))
    : loaded;
  const folder = runFolderOf(config);
  createRunFolder(folder);
  await withRun(buildRun(config, { runDir: folder.root }), async ({ evaluator }) => {
    const metrics = await evaluator.evaluate(0);
    for (const [name, value] of Object.entries(metrics)) process.stdout.write(`${name.padEnd(20)} ${value.toFixed(4)}\n`);
    process.stdout.write(`grid: ${folder.grids}\n`);
  });
};
