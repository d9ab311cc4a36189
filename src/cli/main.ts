#!/usr/bin/env node
/** The `advgrpo` command: one subcommand per job; errors are shown once, here, with their context. */
import { benchCommand } from "./bench.ts";
import { evalCommand } from "./eval.ts";
import { exportCommand } from "./export.ts";
import { inspectCommand } from "./inspect.ts";
import { planCommand } from "./plan.ts";
import { pretrainCommand } from "./pretrain.ts";
import { replayCommand } from "./replay.ts";
import { runCommand } from "./run.ts";
import { workerCommand } from "./worker.ts";
import { EXIT_NATS_GONE, NatsGone } from "../distributed/errors.ts";

const commands: Readonly<Record<string, { readonly summary: string; readonly run: (args: readonly string[]) => Promise<number | void> }>> = {
  run: { summary: "train with a pipeline file (advgrpo run pipelines/default.yaml [--resume])", run: runCommand },
  plan: { summary: "check the files a pipeline names against each other and print their weights' memory, loading no weights (advgrpo plan p.yaml)", run: planCommand },
  learner: { summary: "the learner of a distributed run: run with the pipeline's distributed: section required (advgrpo learner p.yaml [--resume])", run: (args) => runCommand(args, "learner") },
  worker: { summary: "a rollout worker for the run of a pipeline with a distributed: section (advgrpo worker p.yaml)", run: workerCommand },
  pretrain: { summary: "flow-matching pretraining of the embedded generator (advgrpo pretrain pipelines/presets/pretrain.yaml)", run: pretrainCommand },
  eval: { summary: "evaluate a generator on held-out prompts (advgrpo eval pipelines/default.yaml [--weights file])", run: evalCommand },
  replay: { summary: "recompute a run's recorded features, rewards, advantages and steps; report differences (advgrpo replay runs/default)", run: replayCommand },
  inspect: { summary: "per-epoch statistics of a run; --images <epoch> --out grid.png exports its images", run: inspectCommand },
  export: { summary: "merge a LoRA file (peft naming) into its ONNX model (advgrpo export model.onnx --lora lora.safetensors --out merged.onnx)", run: exportCommand },
  bench: { summary: "measure engine, sampling and reward throughput against a baseline in the same run; `bench engine` for only the MatMul baseline and the engine blocks (src/bench/engine.ts), `bench import <model.onnx>` for an imported generator (src/bench/import.ts), `bench weights <model.onnx> [--keep-float16]` for its policy graphs' memory (src/bench/policy-memory.ts), `bench graph-optimisation <model.onnx>` for ORT's optimisation levels on one (src/bench/graph-optimisation.ts)", run: benchCommand },
};

const usage = () =>
  ["usage: advgrpo <command> [args]", "", ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)].join("\n");

const main = async (argv: readonly string[]): Promise<number> => {
  const [name, ...args] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`${name ? `unknown command '${name}'\n\n` : ""}${usage()}\n`);
    return 2;
  }
  try {
    return (await command.run(args)) ?? 0;
  } catch (error) {
    const e = error as Error & { _tag?: string };
    // A tagged error's tag, or a built-in's class (a TypeError is a bug to report); a plain Error's message says it all.
    const label = e._tag ?? e.name;
    process.stderr.write(`advgrpo ${name}: ${label && label !== "Error" ? `${label}: ` : ""}${e.message}\n`);
    // A worker whose NATS server stayed away stops with the status a learner has then (nothing failed).
    return e instanceof NatsGone ? EXIT_NATS_GONE : 1;
  }
};

process.exitCode = await main(process.argv.slice(2));
