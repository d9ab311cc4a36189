/**
 * The forward-process objectives record only images, and replay still recomputes every step's loss exactly;
 * GRPO-Guard reads the sampling policy's weights the same way, and its first ratio of an epoch is exactly 1.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { replayRun } from "../../src/pipeline/replay.ts";
import { runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

describe.each([
  ["nft", "sampler: { kind: ode }\nlearner: { objective: nft, nft: { timesteps: 2 }, klBeta: 0.01 }", ["positiveLoss", "negativeLoss", "oldDeviation", "kl"]],
  ["awm", "learner: { objective: awm, awm: { timesteps: 2 }, guidance: none }", ["matchingLoss"]],
  ["grpo-guard", "sampler: { kind: sde, window: { start: 0, size: 2 } }\nlearner: { ratioNormalisation: grpo-guard }", ["ratioMin", "ratioMax", "approxKl"]],
] as const)("%s end to end", (name, extra, diagnostics) => {
  it("records what the objective needs, and replay reproduces every optimiser step bit for bit", async () => {
    const dir = mkdtempSync(join(tmpdir(), `advgrpo-${name}-`));
    const pipeline = join(dir, `${name}.yaml`);
    writeFileSync(pipeline, `extends: ${writeTinyPipeline(dir, await writeTinyGenerator(dir), 4)}\n${extra}\n`);
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const folder = runFolderOf(config);
    const summary = await runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => false });
    expect(summary.generatorSteps).toBe(4);
    const rows = readRolloutLog(folder.rollouts).rows;
    expect(rows.every((r) => r.steps.length === (name === "grpo-guard" ? 2 : 0))).toBe(true);
    if (name === "grpo-guard") {
      const first = readMetricsLog(folder.root).records.filter((r) => r.kind === "generator" && r.step! % 2 === 1);
      for (const r of first) expect([r.metrics.ratioMin, r.metrics.ratioMax]).toEqual([1, 1]);
    }
    const report = await replayRun(folder.root);
    expect(report.differs).toBe(false);
    for (const name of ["loss", "gradNorm", ...diagnostics]) {
      expect(report.columns.find((c) => c.column === `generator.${name}`), name).toMatchObject({ compared: 4, differing: 0, maxAbsDiff: 0 });
    }
  });
});
