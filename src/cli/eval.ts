/**
 * `advgrpo eval <pipeline.yaml> [--weights generator.safetensors]`: evaluates a generator on the held-out
 * prompts exactly as a run does (ODE samples, alignment, style, aligned-and-styled, DINO similarity,
 * diversity) and writes the image grid into the run folder's grids/.
 */
import { Effect } from "effect";
import { decodePipelineConfig, loadPipelineFile } from "../pipeline/config/load.ts";
import { buildRun, withRun } from "../pipeline/compose.ts";
import { createRunFolder, runFolderOf } from "../pipeline/run-folder.ts";
import { parseCommandArgs } from "./args.ts";
import { progressBar } from "./progress.ts";

const USAGE = "usage: advgrpo eval <pipeline.yaml> [--weights generator.safetensors]";

export const evalCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: file } = parseCommandArgs(args, USAGE, { weights: { type: "string" } });
  const loaded = await Effect.runPromise(loadPipelineFile(file));
  const config = values.weights === undefined ? loaded : await Effect.runPromise(decodePipelineConfig({ ...loaded, generator: { ...loaded.generator, checkpoint: values.weights } }, file));
  const folder = runFolderOf(config);
  createRunFolder(folder);
  await withRun(buildRun(config, { runDir: folder.root }), async ({ evaluator }) => {
    const bar = progressBar(process.stderr, evaluator.promptCount, "prompts");
    bar.update(0);
    const metrics = await evaluator.evaluate(0, (done) => bar.update(done));
    bar.end();
    for (const [name, value] of Object.entries(metrics)) process.stdout.write(`${name.padEnd(20)} ${value.toFixed(4)}\n`);
    process.stdout.write(`grid: ${folder.grids}\n`);
  });
};
