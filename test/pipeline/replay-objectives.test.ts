/** The forward-process objectives record only images, and replay still recomputes every step's loss exactly. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { replayRun } from "../../src/pipeline/replay.ts";
import { runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

describe.each([
  ["nft", "learner: { objective: nft, nft: { timesteps: 2 }, klBeta: 0.01 }", ["positiveLoss", "negativeLoss", "oldDeviation", "kl"]],
  ["awm", "learner: { objective: awm, awm: { timesteps: 2 }, guidance: none }", ["matchingLoss"]],
] as const)("%s end to end", (objective, extra, diagnostics) => {
  it("records no trajectories, and replay reproduces every optimiser step bit for bit", async () => {
    const dir = mkdtempSync(join(tmpdir(), `advgrpo-${objective}-`));
    const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 4, extra)));
    const folder = runFolderOf(config);
    const summary = await runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => false });
    expect(summary.generatorSteps).toBe(4);
    expect(readRolloutLog(folder.rollouts).rows.every((r) => r.steps.length === 0)).toBe(true);
    const report = await replayRun(folder.root);
    expect(report.differs).toBe(false);
    for (const name of ["loss", "gradNorm", ...diagnostics]) {
      expect(report.columns.find((c) => c.column === `generator.${name}`), name).toMatchObject({ compared: 4, differing: 0, maxAbsDiff: 0 });
    }
  });
});
