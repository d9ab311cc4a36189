/**
 * The training loop's cost at the default pipeline: a short run of pipelines/default.yaml (one D epoch, one
 * G epoch) in a temporary folder, read back from its metrics: seconds per D and G epoch, the share of time
 * per stage, and peak RSS.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { decodePipelineConfig } from "../pipeline/config/load.ts";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import { runFolder } from "../pipeline/run-folder.ts";
import { runTraining } from "../pipeline/train.ts";
import { readMetricsLog } from "../report/metrics-log.ts";

interface LoopBench {
  readonly discriminatorEpochSeconds: number;
  readonly generatorEpochSeconds: number;
  /** Milliseconds per stage summed over both epochs. */
  readonly stageMs: Readonly<Record<string, number>>;
  readonly peakRssMB: number;
}

export const benchLoop = async (base: PipelineConfig): Promise<LoopBench> => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-bench-"));
  try {
    const config = await Effect.runPromise(
      decodePipelineConfig({
        ...base,
        run: { ...base.run, name: "bench", outputDir: dir, epochs: 2 },
        discriminator: { ...base.discriminator, dTimes: 2, warmupEpochs: 0 },
        eval: { ...base.eval, every: 1000, heldOutPrompts: 1 },
      }),
    );
    const folder = runFolder(join(dir, "bench"));
    await runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => false });
    const epochs = readMetricsLog(folder.root).records.filter((r) => r.kind === "epoch");
    const seconds = (phase: number) => epochs.find((r) => r.metrics.generatorPhase === phase)?.metrics.seconds ?? Number.NaN;
    const stageMs: Record<string, number> = {};
    for (const r of epochs) for (const [k, v] of Object.entries(r.metrics)) if (k.startsWith("ms.")) stageMs[k.slice(3)] = (stageMs[k.slice(3)] ?? 0) + v;
    return {
      discriminatorEpochSeconds: seconds(0),
      generatorEpochSeconds: seconds(1),
      stageMs,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
