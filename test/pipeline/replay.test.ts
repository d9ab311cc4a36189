import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, statSync, truncateSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { beforeAll, describe, expect, it } from "vitest";
import { decodePng, encodePng } from "../../src/io/png.ts";
import { openRolloutLog, readRolloutLog, type LatentDtype, type RecordedRollout } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState, saveTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { formatReplayReport, replayRun, type ReplayReport } from "../../src/pipeline/replay.ts";
import { checkpointFile, runFolder, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import type { AdvantagedRollout } from "../../src/rollout/rollout.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const EPOCHS = 4; // D G D G: epochs 1 and 3 take 2 optimiser steps each
let root: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-replay-"));
  const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), EPOCHS)));
  root = runFolderOf(config).root;
  await runTraining(config, runFolderOf(config), { resume: false, progress: () => {}, stopRequested: () => false });
});

/** A copy of the recorded run that a test may damage. */
const copyRun = (): string => {
  const copy = join(mkdtempSync(join(tmpdir(), "advgrpo-replay-copy-")), "run");
  cpSync(root, copy, { recursive: true });
  return copy;
};

const column = (report: ReplayReport, name: string) => report.columns.find((c) => c.column === name);

/** Rewrites the copy's rollout log with `change` applied to every row (the same metadata, images re-encoded). */
const rewriteLog = (run: string, change: (row: AdvantagedRollout) => AdvantagedRollout, batchRows = 8, latentDtype?: LatentDtype) => {
  const file = runFolder(run).rollouts;
  const { metadata, rows } = readRolloutLog(file);
  unlinkSync(file);
  const log = openRolloutLog(file, {
    ...metadata,
    latentDtype: latentDtype ?? metadata.latentDtype,
    encodePng: (data, height, width) => encodePng({ data, height, width }),
    batchRows,
  });
  log.append(rows.map((r: RecordedRollout) => change({ ...r, image: decodePng(r.png).data, cls: r.cls!, patches: r.patches! })));
  log.close();
};

describe("advgrpo replay", () => {
  it("reproduces every recorded feature, reward, advantage and optimiser step exactly", async () => {
    const progress: [number, number][] = [];
    const report = await replayRun(root, { epochsDone: (done, total) => progress.push([done, total]) });
    expect(report.differs).toBe(false);
    expect(report.epochs).toEqual([0, 1, 2, 3]);
    expect(progress).toEqual([[0, 4], [1, 4], [2, 4], [3, 4], [4, 4]]);
    expect(report.rows).toBe(EPOCHS * 8);
    for (const name of ["pooled", "cls", "patches", "reward.adversarial-dino", "reward", "discLogitCls", "discLogitPatch", "advantage"]) {
      expect(column(report, name), name).toMatchObject({ compared: EPOCHS * 8, differing: 0, maxAbsDiff: 0 });
    }
    for (const name of ["generator.loss", "generator.ratioMin", "generator.ratioMax", "generator.clipFracHigh", "generator.approxKl", "generator.gradNorm"]) {
      expect(column(report, name), name).toMatchObject({ compared: 4, differing: 0, maxAbsDiff: 0 });
    }
    expect(column(report, "generator.onPolicyRatio")).toMatchObject({ compared: 2, differing: 0 });
    expect(column(report, "discriminator.loss")).toMatchObject({ compared: 2, differing: 0, maxAbsDiff: 0 });
    expect(report.notes).toEqual([]);
    expect(formatReplayReport(report)).toMatch(/identical within tolerance 0/);
  });

  it("reports a planted reward with its column and first differing row", async () => {
    const run = copyRun();
    const target = { epoch: 2, member: 1 };
    let planted: { group: number; value: number } | undefined;
    rewriteLog(run, (row) => {
      if (row.epoch !== target.epoch || row.member !== target.member || planted) return row;
      planted = { group: row.groupId, value: row.reward + 0.25 };
      return { ...row, reward: planted.value };
    });
    const report = await replayRun(run, { epoch: 2 });
    expect(report.differs).toBe(true);
    const reward = column(report, "reward")!;
    expect(reward).toMatchObject({ compared: 8, differing: 1, first: { where: { epoch: 2, group: planted!.group, member: 1 }, recorded: planted!.value } });
    expect(reward.maxAbsDiff).toBeCloseTo(0.25, 6);
    // The component and the features are intact; advantages recomputed from the planted reward move with it.
    expect(column(report, "reward.adversarial-dino")!.differing).toBe(0);
    expect(column(report, "pooled")!.differing).toBe(0);
    expect(column(report, "advantage")!.differing).toBeGreaterThan(0);
    expect(formatReplayReport(report)).toMatch(new RegExp(`reward +8 +1 .*epoch 2 group ${planted!.group} member 1`));
    // Within a tolerance above the planted difference nothing differs.
    expect((await replayRun(run, { epoch: 2, tolerance: 10 })).differs).toBe(false);
  });

  it("replays a log without latents (the default) exactly by sampling the window again", async () => {
    const run = copyRun();
    rewriteLog(run, (row) => row, 8, "none");
    expect(readRolloutLog(runFolder(run).rollouts).rows[8]!.steps[0]!.x).toHaveLength(0);
    const report = await replayRun(run);
    expect(report.differs).toBe(false);
    for (const name of ["steps.logProb", "image", "pooled", "reward", "advantage"]) {
      expect(column(report, name), name).toMatchObject({ compared: EPOCHS * 8, differing: 0, maxAbsDiff: 0 });
    }
    for (const name of ["generator.loss", "generator.ratioMin", "generator.ratioMax", "generator.gradNorm"]) {
      expect(column(report, name), name).toMatchObject({ compared: 4, differing: 0, maxAbsDiff: 0 });
    }
    expect(column(report, "generator.onPolicyRatio")).toMatchObject({ compared: 2, differing: 0 });
  });

  it("replays a float16 log: features, rewards and advantages exact, the optimiser step close, with a note", async () => {
    const run = copyRun();
    rewriteLog(run, (row) => row, 8, "float16");
    const report = await replayRun(run, { epoch: 1 });
    for (const name of ["pooled", "reward", "advantage"]) expect(column(report, name)!.differing, name).toBe(0);
    // The latents the learner sees are rounded, so even the on-policy ratio moves off 1, but only in the rounding's range.
    const ratio = column(report, "generator.onPolicyRatio")!;
    expect(ratio.differing).toBe(1);
    expect(ratio.maxAbsDiff).toBeLessThan(1e-2);
    expect(report.notes.join("\n")).toMatch(/recorded as float16 .* --tolerance/);
  });

  it("reports a perturbed discriminator checkpoint from the first row scored with it", async () => {
    const run = copyRun();
    const file = checkpointFile(runFolder(run), 1);
    const state = await loadTrainingState(file);
    state.weights.discriminator![0]!.data[0]! += 0.5;
    await saveTrainingState(file, state);
    const report = await replayRun(run, { epoch: 2 });
    const first = readRolloutLog(runFolder(run).rollouts, { epoch: 2 }).rows[0]!;
    expect(column(report, "discLogitCls")!.first?.where).toEqual({ epoch: 2, group: first.groupId, member: 0 });
    expect(column(report, "reward.adversarial-dino")!.differing).toBeGreaterThan(0);
    expect(column(report, "discriminator.loss")!.differing).toBe(1);
    expect(column(report, "pooled")!.differing).toBe(0);
    expect(column(report, "advantage")!.differing).toBe(0);
  });

  it("replays one group of one epoch without the optimiser steps", async () => {
    const group = readRolloutLog(runFolder(root).rollouts, { epoch: 1 }).rows[4]!.groupId;
    const report = await replayRun(root, { epoch: 1, group });
    expect(report).toMatchObject({ epochs: [1], rows: 4, differs: false });
    expect(column(report, "reward")!.compared).toBe(4);
    expect(column(report, "advantage")!.compared).toBe(4);
    expect(column(report, "generator.loss")).toBeUndefined();
    await expect(replayRun(root, { epoch: 1, group: 999 })).rejects.toThrow(/no rows of group 999 in epoch 1/);
    await expect(replayRun(root, { epoch: 42 })).rejects.toThrow(/no rows of epoch 42 \(it holds epochs 0, 1, 2, 3\)/);
  });

  it("still replays advantages of an epoch whose starting checkpoint was pruned", async () => {
    const run = copyRun();
    rmSync(checkpointFile(runFolder(run), 0));
    const report = await replayRun(run, { epoch: 1 });
    expect(report.differs).toBe(false);
    expect(report.notes.join("\n")).toMatch(/epoch 1: no checkpoint .*epoch-0000\.safetensors/);
    expect(column(report, "advantage")!.compared).toBe(8);
    expect(column(report, "reward")).toBeUndefined();
  });

  it("reports a truncated log and replays what survives of it", async () => {
    const run = copyRun();
    rewriteLog(run, (row) => row, 4); // two batches per epoch, so a cut can leave half an epoch
    const file = runFolder(run).rollouts;
    truncateSync(file, statSync(file).size - 1000);
    const report = await replayRun(run);
    expect(report.notes.join("\n")).toMatch(/is truncated at byte \d+ .*the 28 rows before it are complete/);
    expect(report.notes.join("\n")).toMatch(/epoch 3: only 4 rows survive in the log \(cut short\): advantages and steps not replayed/);
    expect(report.epochs).toEqual([0, 1, 2, 3]);
    expect(report.differs).toBe(false);
    expect(column(report, "reward")!.compared).toBe(28);
    expect(column(report, "advantage")!.compared).toBe(24);
    expect(column(report, "generator.loss")!.compared).toBe(2);
  });

  it("fails clearly on a missing run folder", async () => {
    await expect(replayRun(join(tmpdir(), "advgrpo-no-such-run"))).rejects.toThrow(/no such run folder/);
  });

  it("the CLI prints the table and exits non-zero on a difference", async () => {
    const run = copyRun();
    rewriteLog(run, (row) => (row.epoch === 0 && row.member === 0 ? { ...row, advantage: row.advantage + 1 } : row));
    const child = spawn(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", "replay", run, "--epoch", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    expect(out).toMatch(/advantage +8 +2 /); // two groups, each with its member 0 planted
    expect(out).toMatch(/DIFFERS: 1 columns beyond tolerance 0/);
    expect(err).toMatch(/ReplayMismatch: .* in advantage/);
  });
});
