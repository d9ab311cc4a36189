/** `advgrpo plan <pipeline.yaml>`: checks the files a run would load against each other without loading their weights (src/pipeline/plan.ts). */
import { Effect } from "effect";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import { planRun } from "../pipeline/plan.ts";
import { parseCommandArgs } from "./args.ts";

const USAGE = "usage: advgrpo plan <pipeline.yaml>";

export const planCommand = async (args: readonly string[]): Promise<void> => {
  const { target } = parseCommandArgs(args, USAGE, {});
  const config = await Effect.runPromise(loadPipelineFile(target));
  for (const line of await planRun(config)) process.stdout.write(`${line}\n`);
};
