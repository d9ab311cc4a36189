/**
 * learner.maxPolicyLag 1 in one process: a sampling thread samples epoch e+1 with epoch e's start weights while
 * the learner learns on epoch e. The schedule is the distributed one (test/distributed/learner-worker.test.ts
 * shows the two runs equal); a run stopped and resumed samples every epoch as the uninterrupted run did.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { beforeAll, describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const EPOCHS = 4;
let generator: string;

/** The tiny pipeline at lag 1 with D and G every epoch, so every epoch's rows trail the learner. */
const lagPipeline = () => {
  const file = writeTinyPipeline(mkdtempSync(join(tmpdir(), "advgrpo-thread-lag-")), generator, EPOCHS, "learner: { maxPolicyLag: 1 }");
  writeFileSync(file, readFileSync(file, "utf8").replace("dTimes: 2", "dTimes: 1"));
  return file;
};

const outcome = async (pipeline: string) => {
  const config = await Effect.runPromise(loadPipelineFile(pipeline));
  const folder = runFolderOf(config);
  const state = await loadTrainingState(listCheckpoints(folder).at(-1)!);
  return { rows: readRolloutLog(folder.rollouts).rows.map(({ timings: _t, ...rest }) => rest), state: { ...state, metadata: {} } };
};

beforeAll(async () => {
  generator = await writeTinyGenerator(mkdtempSync(join(tmpdir(), "advgrpo-thread-lag-gen-")));
});

describe("single-process bounded lag (sampling thread)", () => {
  let uninterrupted: Awaited<ReturnType<typeof outcome>>;

  it("samples epoch e+1 with epoch e's weights while learning; the ratio leaves 1, its std is logged, the log records the sampling versions", async () => {
    const pipeline = lagPipeline();
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const folder = runFolderOf(config);
    const lines: string[] = [];
    const summary = await runTraining(config, folder, { resume: false, stopRequested: () => false, progress: (l) => lines.push(l) });
    expect(summary.epochsCompleted).toBe(EPOCHS);
    const rows = readRolloutLog(folder.rollouts).rows;
    const version = (epoch: number) => new Set(rows.filter((r) => r.epoch === epoch).map((r) => r.policyVersion));
    expect([version(0), version(1), version(2), version(3)]).toEqual([new Set([0]), new Set([0]), new Set([2]), new Set([4])]);
    expect(lines).toContain("epoch 3 samples with the weights of epoch 2 (lag 1 epochs); the sampling thread works up to epoch 4");
    const steps = readMetricsLog(folder.root).records.filter((r) => r.kind === "generator");
    expect(steps.map((r) => r.metrics.policyLag)).toEqual([0, 1, 2, 3, 2, 3, 2, 3]);
    expect([steps[0]!.metrics.ratioMin, steps[0]!.metrics.ratioMax, steps[0]!.metrics.ratioStd]).toEqual([1, 1, 0]);
    for (const r of steps.filter((s) => s.epoch >= 1 && s.step! % 2 === 1)) {
      expect([r.metrics.ratioMin, r.metrics.ratioMax]).not.toEqual([1, 1]);
      expect(r.metrics.ratioStd).toBeGreaterThan(0);
    }
    uninterrupted = await outcome(pipeline);
  });

  it("stopped after epoch 2 and resumed, it samples every epoch as the uninterrupted run did (the snapshots it lost come from the checkpoints)", async () => {
    const pipeline = lagPipeline();
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const folder = runFolderOf(config);
    let done = 0;
    const first = await runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => done >= 2, epochsDone: (d) => (done = d) });
    expect(first).toMatchObject({ stoppedEarly: true, epochsCompleted: 2 });
    await runTraining(config, folder, { resume: true, progress: () => {}, stopRequested: () => false });
    const got = await outcome(pipeline);
    expect(got.rows).toEqual(uninterrupted.rows);
    expect(got.state).toEqual(uninterrupted.state);
  });
});
