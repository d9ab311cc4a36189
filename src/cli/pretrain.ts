/**
 * `advgrpo pretrain <pipeline.yaml> [--resume]`: flow-matching pretraining of the embedded generator with the
 * pipeline file's `pretrain` section; checkpoints and the final generator.safetensors go to the run folder.
 */
import { Effect } from "effect";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import { runFolderOf } from "../pipeline/run-folder.ts";
import { pretrain } from "../pretrain/pretrain.ts";
import { parseCommandArgs } from "./args.ts";
import { progressBar } from "./progress.ts";

export const pretrainCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: file } = parseCommandArgs(args, "usage: advgrpo pretrain <pipeline.yaml> [--resume]", { resume: { type: "boolean" } });
  const config = await Effect.runPromise(loadPipelineFile(file));
  const p = config.pretrain;
  const out = runFolderOf(config).root;
  process.stderr.write(`advgrpo pretrain ${file} -> ${out}\n`);
  const bar = progressBar(process.stderr, p.steps, "steps");
  const result = await pretrain({
    out,
    steps: p.steps,
    batch: p.batchSize,
    lr: p.lr,
    weightDecay: p.weightDecay,
    seed: config.run.seed,
    checkpointEvery: p.checkpointEvery,
    resume: (values.resume ?? false) || config.run.resume,
    log: (line) => bar.line(line),
    stepsDone: (done) => bar.update(done),
  }).finally(() => bar.end());
  process.stdout.write(`pretrained ${result.step} steps in ${result.seconds.toFixed(0)} s; weights: ${out}/generator.safetensors\n`);
};
