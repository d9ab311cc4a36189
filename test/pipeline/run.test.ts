import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const quiet = { progress: () => {}, stopRequested: () => false };

const cli = (args: string[]) => spawn(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });

const finalState = async (root: string) => {
  const last = listCheckpoints({ checkpoints: join(root, "checkpoints") } as never).at(-1)!;
  return loadTrainingState(last);
};

describe("advgrpo run end to end (tiny generator)", () => {
  it("records every rollout, alternates D and G epochs, evaluates, checkpoints and reports", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-run-"));
    const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 4)));
    const folder = runFolderOf(config);
    const summary = await runTraining(config, folder, { ...quiet, resume: false });
    expect(summary.epochsCompleted).toBe(4);
    expect(summary.generatorSteps).toBe(2 * 2); // epochs 1 and 3 are G epochs with 2 optimiser steps each
    const log = readRolloutLog(folder.rollouts);
    expect(log.rows.length).toBe(4 * 2 * 4);
    expect(new Set(log.rows.map((r) => r.epoch))).toEqual(new Set([0, 1, 2, 3]));
    const { records } = readMetricsLog(folder.root);
    expect(records.filter((r) => r.kind === "generator").length).toBe(4);
    expect(records.filter((r) => r.kind === "discriminator").length).toBe(2);
    expect(records.filter((r) => r.kind === "eval").map((r) => r.epoch)).toEqual([0, 4]);
    // The first step of every generator epoch is exactly on-policy.
    const firstSteps = records.filter((r) => r.kind === "generator" && r.step! % 2 === 1);
    for (const r of firstSteps) expect([r.metrics.ratioMin, r.metrics.ratioMax]).toEqual([1, 1]);
    expect(existsSync(folder.report)).toBe(true);
    expect(readdirSync(folder.grids).length).toBe(2);
    expect(listCheckpoints(folder).length).toBe(4);
    await expect(runTraining(config, folder, { ...quiet, resume: false })).rejects.toThrow(/already holds a run; resume it with --resume/);
  });

  it("a run killed with SIGKILL mid-epoch resumes to the same rollouts, steps and weights as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-kill-"));
    const generator = await writeTinyGenerator(dir);
    const epochs = 6;
    const straightDir = mkdtempSync(join(tmpdir(), "advgrpo-straight-"));
    const straight = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(straightDir, generator, epochs)));
    await runTraining(straight, runFolderOf(straight), { ...quiet, resume: false });

    const pipeline = writeTinyPipeline(dir, generator, epochs);
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const folder = runFolderOf(config);
    const child = cli(["run", pipeline]);
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        // Killed after the first checkpoint: the remaining epochs leave a wide margin before the run could end.
        if (listCheckpoints(folder).length >= 1) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", (code) => {
        clearInterval(poll);
        if (code !== null) reject(new Error(`run finished (exit ${code}) before it could be killed`));
      });
    });
    await new Promise((resolve) => child.on("close", resolve));
    const killedAt = listCheckpoints(folder).length;
    expect(killedAt).toBeLessThan(epochs);

    const resumed = cli(["run", pipeline, "--resume"]);
    const exit = await new Promise<number | null>((resolve) => resumed.on("close", resolve));
    expect(exit).toBe(0);

    const a = readRolloutLog(runFolderOf(straight).rollouts).rows;
    const b = readRolloutLog(folder.rollouts).rows;
    expect(b.length).toBe(a.length);
    expect(b.map((r) => [r.epoch, r.groupId, r.member, r.seed, r.reward])).toEqual(a.map((r) => [r.epoch, r.groupId, r.member, r.seed, r.reward]));
    const [sa, sb] = [await finalState(runFolderOf(straight).root), await finalState(folder.root)];
    expect(sb.optimizers.generator!.step).toBe(sa.optimizers.generator!.step);
    expect(sb.weights.generator!.map((p) => Array.from(p.data))).toEqual(sa.weights.generator!.map((p) => Array.from(p.data)));
    expect(sb.weights.discriminator!.map((p) => Array.from(p.data))).toEqual(sa.weights.discriminator!.map((p) => Array.from(p.data)));
  });

  it("Ctrl-C stops after the epoch in flight, with a checkpoint for every completed epoch", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-sigint-"));
    const pipeline = writeTinyPipeline(dir, await writeTinyGenerator(dir), 50);
    const folder = runFolderOf(await Effect.runPromise(loadPipelineFile(pipeline)));
    const child = cli(["run", pipeline]);
    let stdout = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    const poll = setInterval(() => {
      if (listCheckpoints(folder).length >= 1) {
        clearInterval(poll);
        child.kill("SIGINT");
      }
    });
    const exit = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearInterval(poll);
    expect(exit).toBe(0);
    const stopped = /stopped after (\d+) epochs/.exec(stdout);
    expect(stopped, stdout).not.toBeNull();
    const epochs = Number(stopped![1]);
    expect(epochs).toBeLessThan(50);
    expect(listCheckpoints(folder).length).toBe(epochs);
    expect(new Set(readRolloutLog(folder.rollouts).rows.map((r) => r.epoch)).size).toBe(epochs);
  });
});
