/**
 * `advgrpo run <pipeline.yaml> [--resume]`: trains, prints one line per epoch and evaluation, and ends
 * with the report's path and the headline metrics. Ctrl-C finishes the epoch in flight, checkpoints and
 * exits; a second Ctrl-C exits at once (a resume then repeats at most that epoch).
 */
import { Effect } from "effect";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import { runFolderOf } from "../pipeline/run-folder.ts";
import { runTraining } from "../pipeline/train.ts";

const pct = (x: number | undefined) => (x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);

export const runCommand = async (args: readonly string[]): Promise<void> => {
  const file = args.find((a) => !a.startsWith("--"));
  if (!file) throw new Error("usage: advgrpo run <pipeline.yaml> [--resume]");
  const config = await Effect.runPromise(loadPipelineFile(file));
  const folder = runFolderOf(config);
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write("\nstopping after the current epoch (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSignal);
  process.stderr.write(`advgrpo run ${file} -> ${folder.root}\n`);
  try {
    const summary = await runTraining(config, folder, {
      resume: args.includes("--resume") || config.run.resume,
      progress: (line) => process.stderr.write(`${line}\n`),
      stopRequested: () => stop,
    });
    const e = summary.lastEvaluation;
    process.stdout.write(
      [
        `${summary.stoppedEarly ? "stopped" : "finished"} after ${summary.epochsCompleted} epochs, ${summary.generatorSteps} generator steps, ${summary.rolloutRows} rollouts recorded`,
        `report: ${folder.report}`,
        e ? `held-out: aligned-and-styled ${pct(e.alignedAndStyled)}, alignment ${pct(e.alignment)}, style score ${e.styleScore?.toFixed(3)}, DINO similarity ${e.dinoSimilarity?.toFixed(3)}` : "no evaluation yet",
      ].join("\n") + "\n",
    );
  } finally {
    process.off("SIGINT", onSignal);
  }
};
