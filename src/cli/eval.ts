/**
 * `advgrpo eval <pipeline.yaml> [--weights generator.safetensors]`: evaluates a generator on the held-out
 * prompts exactly as a run does (ODE samples, alignment, style, aligned-and-styled, DINO similarity,
 * diversity) and writes the image grid into the run folder's grids/.
 */
import { Effect } from "effect";
import { decodePipelineConfig, loadPipelineFile } from "../pipeline/config/load.ts";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import { buildRun, withRun } from "../pipeline/compose.ts";
import { withFieldCalled } from "../pipeline/configured-files.ts";
import { createRunFolder, runFolderOf } from "../pipeline/run-folder.ts";
import { parseCommandArgs, UsageError } from "./args.ts";
import { progressBar } from "./progress.ts";

const USAGE = "usage: advgrpo eval <pipeline.yaml> [--weights generator.safetensors]";

/** The pipeline with --weights as its generator.checkpoint; only the embedded generator reads that field. */
const withWeights = async (loaded: PipelineConfig, file: string, weights: string): Promise<PipelineConfig> => {
  if (weights === "") throw new UsageError({ reason: "--weights: expected a .safetensors file, got ''", usage: USAGE });
  if (loaded.generator.kind !== "embedded") {
    throw new UsageError({ reason: `--weights: ${file} has generator.kind ${loaded.generator.kind}; only the embedded generator starts from a weights file`, usage: USAGE });
  }
  return Effect.runPromise(decodePipelineConfig({ ...loaded, generator: { ...loaded.generator, checkpoint: weights } }, file));
};

const evaluate = async (config: PipelineConfig): Promise<void> => {
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

export const evalCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: file } = parseCommandArgs(args, USAGE, { weights: { type: "string" } });
  const loaded = await Effect.runPromise(loadPipelineFile(file));
  if (values.weights === undefined) return evaluate(loaded);
  // The file came from the command line, so its errors name --weights, not the pipeline field it overrides.
  await evaluate(await withWeights(loaded, file, values.weights)).catch((error: unknown) => {
    throw withFieldCalled(error, "generator.checkpoint", "--weights");
  });
};
