/**
 * `advgrpo bench`: every performance figure the project tracks, each as a ratio against a baseline
 * measured in the same run (the machines are shared and drift 10-30% between runs).
 */
import { benchMatMul } from "../runtime/bench.ts";
import { benchEngineBlocks } from "./engine.ts";

/** The default generator's block sizes (see src/models/generator): 16 images, 32x32, width 32 / 64 tokens of 128. */
const defaultSizes = { batch: 16, channels: 32, resolution: 32, tokens: 64, width: 128, heads: 4 } as const;

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export const runBenchmarks = async (log: (line: string) => void = console.log): Promise<void> => {
  log("advgrpo bench — medians of 10 runs after warm-up, CPU execution provider, 2 intra-op threads\n");
  const baseline = await benchMatMul(1024);
  log(`baseline: ORT MatMul 1024x1024 fp32  ${baseline.ms.toFixed(1)} ms  ${baseline.gflops.toFixed(1)} GFLOP/s\n`);
  log("engine blocks (train step = forward + backward graph + in-place AdamW)");
  log("block                               fwd ms  step ms  step/fwd  fwd GFLOP/s (vs MatMul)  step GFLOP/s (vs MatMul)");
  for (const r of await benchEngineBlocks(defaultSizes)) {
    log(
      `${r.name.padEnd(34)} ${r.forwardMs.toFixed(2).padStart(7)} ${r.trainStepMs.toFixed(2).padStart(8)} ${(r.trainStepMs / r.forwardMs).toFixed(2).padStart(9)}` +
        `  ${r.forwardGflops.toFixed(1).padStart(10)} (${pct(r.forwardGflops / baseline.gflops).padStart(4)})` +
        `          ${r.trainGflops.toFixed(1).padStart(10)} (${pct(r.trainGflops / baseline.gflops).padStart(4)})`,
    );
  }
};
