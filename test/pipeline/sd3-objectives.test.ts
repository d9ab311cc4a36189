/**
 * The likelihood-free objectives (nft, awm) through a latent generator: the tiny SD3 transformer + VAE decoder
 * preset trains on each rollout's final latent x0 (the image is the VAE's decoding and cannot give it back).
 * Without recorded latents replay samples x0 again; with float32 latents the log keeps it in its `clean` column.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { replayRun } from "../../src/pipeline/replay.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { tinySd3Pipeline } from "./fixtures.ts";

const NFT = "sampler: { kind: ode }\nlearner: { objective: nft, nft: { timesteps: 2 }, klBeta: 0.01 }";
const AWM = "learner: { objective: awm, awm: { timesteps: 2 } }\nrecord: { latentDtype: float32 }";

const run = async (name: string, extra: string, stopAfter = Infinity) => {
  const dir = mkdtempSync(join(tmpdir(), `advgrpo-sd3-${name}-`));
  const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir, extra)));
  const folder = runFolderOf(config);
  let epochs = 0;
  const summary = await runTraining(config, folder, { progress: () => {}, stopRequested: () => epochs >= stopAfter, epochsDone: (done) => void (epochs = done), resume: false });
  return { config, folder, summary };
};

describe.each([
  ["nft", NFT, ["positiveLoss", "negativeLoss", "oldDeviation", "kl"], false],
  ["awm", AWM, ["matchingLoss"], true],
] as const)("%s through the tiny SD3 transformer and its VAE", (name, extra, diagnostics, recorded) => {
  it("trains on the final latents with finite losses, and replay recomputes every optimiser step bit for bit", async () => {
    const { folder, summary } = await run(name, extra);
    expect(summary.epochsCompleted).toBe(4);
    expect(summary.generatorSteps).toBe(4);
    const log = readRolloutLog(folder.rollouts);
    expect(log.rows.length).toBe(4 * 2 * 4);
    expect(log.rows.every((r) => r.steps.length === 0)).toBe(true);
    // x0 is kept in the log only when latents are recorded; the default log keeps its layout
    expect(log.metadata.cleanLatents).toBe(recorded ? true : undefined);
    if (recorded) {
      expect(log.rows.every((r) => r.clean?.length === 16 * 8 * 8 && r.clean.every(Number.isFinite))).toBe(true);
      expect(new Set(log.rows.map((r) => r.clean![0])).size).toBe(log.rows.length);
    } else {
      expect(log.rows.every((r) => r.clean === undefined)).toBe(true);
    }
    const steps = readMetricsLog(folder.root).records.filter((r) => r.kind === "generator");
    expect(steps.length).toBe(4);
    for (const s of steps) for (const key of ["loss", "gradNorm", ...diagnostics]) expect(Number.isFinite(s.metrics[key]), `${key} of step ${s.step}`).toBe(true);
    // the adapters moved: the last checkpoint's lora_B factors are no longer zero
    const state = await loadTrainingState(listCheckpoints(folder).at(-1)!);
    expect(state.weights.generator!.filter((p) => p.name.endsWith("lora_B")).some((p) => p.data.some((v) => v !== 0))).toBe(true);

    const report = await replayRun(folder.root);
    expect(report.differs, JSON.stringify(report.columns.filter((c) => c.differing > 0))).toBe(false);
    for (const key of ["loss", "gradNorm", ...diagnostics]) {
      expect(report.columns.find((c) => c.column === `generator.${key}`), key).toMatchObject({ compared: 4, differing: 0, maxAbsDiff: 0 });
    }
    // without recorded latents replay sampled every group again and compared its images with the recorded ones
    if (!recorded) expect(report.columns.find((c) => c.column === "image")).toMatchObject({ compared: 4 * 2 * 4, differing: 0 });
  });
});

describe("a stopped nft run through the VAE generator", () => {
  it("resumes to the same rollouts, losses and adapters as an uninterrupted run", async () => {
    const straight = await run("nft-straight", NFT);
    const stopped = await run("nft-stopped", NFT, 2);
    expect(stopped.summary.epochsCompleted).toBe(2);
    const resumed = await runTraining(stopped.config, stopped.folder, { progress: () => {}, stopRequested: () => false, resume: true });
    expect(resumed.epochsCompleted).toBe(4);
    const rows = (f: typeof straight.folder) => readRolloutLog(f.rollouts).rows.map((r) => [r.epoch, r.groupId, r.member, r.seed, r.reward]);
    expect(rows(stopped.folder)).toEqual(rows(straight.folder));
    const losses = (f: typeof straight.folder) => readMetricsLog(f.root).records.filter((r) => r.kind === "generator").map((r) => r.metrics.loss);
    expect(losses(stopped.folder)).toEqual(losses(straight.folder));
    const adapters = async (f: typeof straight.folder) => (await loadTrainingState(listCheckpoints(f).at(-1)!)).weights.generator!.map((p) => Array.from(p.data));
    expect(await adapters(stopped.folder)).toEqual(await adapters(straight.folder));
  });
});
