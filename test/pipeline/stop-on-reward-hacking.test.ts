/**
 * eval.stopOnRewardHacking ends the run at the evaluation where the reward-hacking monitor fires: that epoch's
 * checkpoint is written, the reason is reported, and no later epoch starts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { hackingAt } from "../../src/pipeline/reward-hacking-stop.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { METRICS_FILE, type MetricRecord } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const evaluation = (epoch: number, alignment: number, generatedReward: number): MetricRecord => ({ kind: "eval", epoch, metrics: { alignment, alignedAndStyled: 0, generatedReward, referenceReward: 0 } });

describe("hackingAt", () => {
  it("names the evaluation where the reward margin rose while alignment fell more than 5 points", () => {
    const records = [evaluation(0, 0.9, 0.1), evaluation(10, 0.88, 0.3), evaluation(20, 0.8, 0.5)];
    expect(hackingAt(records, 10)).toBeUndefined(); // 2 points
    expect(hackingAt(records, 20)).toMatchObject({ epoch: 20, since: 0, versus: "first" }); // 10 points since the first
    expect(hackingAt([evaluation(0, 0.9, 0.5), evaluation(10, 0.5, 0.1)], 10)).toBeUndefined(); // the reward fell too
  });
});

describe("eval.stopOnRewardHacking", () => {
  it("stops the run after the epoch whose evaluation the monitor flags, with its checkpoint and a report line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-hacking-"));
    const pipeline = join(dir, "hacking.yaml");
    writeFileSync(pipeline, `extends: ${writeTinyPipeline(dir, await writeTinyGenerator(dir), 6)}\neval: { every: 1, stopOnRewardHacking: true }\n`);
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const folder = runFolderOf(config);
    let epochs = 0;
    const lines: string[] = [];
    const first = await runTraining(config, folder, { resume: false, progress: (l) => void (l.startsWith("epoch ") && epochs++), stopRequested: () => epochs >= 2 });
    expect(first.stopReason).toBeUndefined();
    // The tiny random generator aligns nothing, so plant the history a hacked run would have: an evaluation before
    // training with perfect alignment and a far lower reward. The line keeps its byte length (the checkpoint records it).
    const metricsFile = join(folder.root, METRICS_FILE);
    const [line, ...rest] = readFileSync(metricsFile, "utf8").split("\n");
    expect(JSON.parse(line!)).toMatchObject({ kind: "eval", epoch: 0 });
    const planted = JSON.stringify({ kind: "eval", epoch: 0, ...evaluation(0, 1, -1e6).metrics });
    writeFileSync(metricsFile, [planted.padEnd(line!.length, " "), ...rest].join("\n"));

    const resumed = await runTraining(config, folder, { resume: true, progress: (l) => lines.push(l), stopRequested: () => false });
    expect(resumed.epochsCompleted).toBe(3);
    expect(resumed.stoppedEarly).toBe(true);
    expect(resumed.stopReason).toMatch(/^run stopped after 3 epochs by eval\.stopOnRewardHacking.*alignment fell 100\.0%/);
    expect(lines).toContain(resumed.stopReason);
    expect(listCheckpoints(folder).map((f) => f.match(/(\d+)\D*$/)![1]).map(Number).at(-1)).toBe(2);
    expect(readFileSync(folder.report, "utf8")).toContain("run stopped after 3 epochs by eval.stopOnRewardHacking");
  });
});
