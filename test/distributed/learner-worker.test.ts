/**
 * One learner and rollout workers over a private nats-server, on the tiny pipeline: at learner.maxPolicyLag 0
 * the run is the single-process run, bit for bit (rows without timings, final checkpoint tensors), also when
 * a worker is SIGKILLed holding a group.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState, type TrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { writeTinyGenerator, writeTinyPipeline } from "../pipeline/fixtures.ts";
import { startNatsServer, type NatsServer } from "./nats-server.ts";

const EPOCHS = 4;
const quiet = { progress: () => {}, stopRequested: () => false, resume: false };

let server: NatsServer;
let generator: string;
let baseline: { rows: unknown[]; state: TrainingState };
const workers: ChildProcess[] = [];

const worker = (pipeline: string): ChildProcess & { output: string } => {
  const child = spawn(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", "worker", pipeline], { stdio: ["ignore", "pipe", "pipe"] }) as ChildProcess & { output: string };
  child.output = "";
  child.stderr!.on("data", (d) => (child.output += d));
  child.stdout!.on("data", (d) => (child.output += d));
  workers.push(child);
  return child;
};

const exited = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r())));

const stopWorkers = async () => {
  for (const w of workers.splice(0)) {
    if (w.exitCode === null && w.signalCode === null) w.kill("SIGKILL");
    await exited(w);
  }
};

const withoutTimings = (rows: readonly { timings: unknown }[]) => rows.map(({ timings: _t, ...rest }) => rest);

const outcome = async (pipeline: string) => {
  const config = await Effect.runPromise(loadPipelineFile(pipeline));
  const folder = runFolderOf(config);
  const last = listCheckpoints(folder).at(-1)!;
  const state = await loadTrainingState(last);
  return { rows: withoutTimings(readRolloutLog(folder.rollouts).rows), state: { ...state, metadata: {} } };
};

const distributedPipeline = (name: string, extra = "") => {
  const dir = mkdtempSync(join(tmpdir(), `advgrpo-${name}-`));
  return writeTinyPipeline(dir, generator, EPOCHS, `distributed: { url: "${server.url}", ackDeadline: 2 }\n${extra}`);
};

beforeAll(async () => {
  server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-single-"));
  generator = await writeTinyGenerator(dir);
  const single = writeTinyPipeline(dir, generator, EPOCHS);
  const config = await Effect.runPromise(loadPipelineFile(single));
  await runTraining(config, runFolderOf(config), quiet);
  baseline = await outcome(single);
});

afterAll(async () => {
  await stopWorkers();
  await server?.stop();
});

describe("learner + workers over NATS JetStream", () => {
  it("at lag 0, one learner and one worker record the single-process run's rows and end in its weights", async () => {
    const pipeline = distributedPipeline("lag0");
    const w = worker(pipeline);
    const config = await Effect.runPromise(loadPipelineFile(pipeline));
    const summary = await runTraining(config, runFolderOf(config), quiet);
    expect(summary.epochsCompleted).toBe(EPOCHS);
    const got = await outcome(pipeline);
    expect(got.rows.length).toBe(baseline.rows.length);
    expect(got.rows).toEqual(baseline.rows);
    expect(got.state).toEqual(baseline.state);
    expect(w.output).toMatch(/group 0 of epoch 0 \(attempt 0, delivery 1\) published/);
    await stopWorkers();
  });
});
