/**
 * `advgrpo worker <pipeline.yaml>`: a rollout worker for the run the pipeline names (its distributed:
 * section says where the NATS server is). Ctrl-C stops after the group in progress; a killed worker's group
 * is redone by another worker after distributed.ackDeadline.
 */
import { Effect } from "effect";
import { runWorker } from "../distributed/worker.ts";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import { parseCommandArgs } from "./args.ts";

export const workerCommand = async (args: readonly string[]): Promise<void> => {
  const { target: file } = parseCommandArgs(args, "usage: advgrpo worker <pipeline.yaml>", {});
  const config = await Effect.runPromise(loadPipelineFile(file));
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write("\nstopping after the group in progress (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const summary = await runWorker(config, { progress: (line) => process.stderr.write(`${line}\n`), stopRequested: () => stop });
    process.stdout.write(`worker stopped after ${summary.groups} groups\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
};
