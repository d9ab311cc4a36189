/**
 * `advgrpo bench [engine | import|weights|graph-optimisation <model.onnx>]`: the performance report (src/bench/main.ts)
 * on stdout, with a progress bar over its sections on stderr; `engine` measures the engine blocks alone, the others
 * an imported generator.
 */
import { runGraphOptimisationBench } from "../bench/graph-optimisation.ts";
import { runImportBench } from "../bench/import.ts";
import { runBenchmarks, runEngineBenchmarks } from "../bench/main.ts";
import { runPolicyMemoryBench } from "../bench/policy-memory.ts";
import { type ProgressBar, progressBar } from "./progress.ts";

export const benchCommand = async (args: readonly string[]): Promise<void> => {
  if (args[0] === "import") return runImportBench(args.slice(1));
  if (args[0] === "weights") return runPolicyMemoryBench(args.slice(1));
  if (args[0] === "graph-optimisation") return runGraphOptimisationBench(args[1]);
  if (args[0] === "engine") return runEngineBenchmarks();
  let bar: ProgressBar | undefined;
  // Report lines go to stdout; only when both streams are the terminal do they pass through the bar, which keeps itself below them.
  const viaBar = process.stdout.isTTY === true && process.stderr.isTTY === true;
  const log = (line: string) => (viaBar && bar ? bar.line(line) : void process.stdout.write(`${line}\n`));
  await runBenchmarks(log, (done, total) => {
    bar ??= progressBar(process.stderr, total, "sections");
    bar.update(done);
  }).finally(() => bar?.end());
};
