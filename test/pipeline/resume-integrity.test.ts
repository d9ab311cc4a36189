/**
 * Issue 12 classes 1, 2, 3 and 7 end to end on the tiny pipeline: a resume never invents data, one writer
 * per run folder, checkpoints verified on load with a fallback to the newest intact one, divergence stops
 * the run naming the field.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { beforeAll, describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import type { PipelineConfig } from "../../src/pipeline/config/schema.ts";
import { checkpointFile, listCheckpoints, runFolder, type RunFolder } from "../../src/pipeline/run-folder.ts";
import { LOCK_FILE } from "../../src/pipeline/run-lock.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { METRICS_FILE, readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const EPOCHS = 3;
let config: PipelineConfig;
let finished: RunFolder;
let generator: string;

const quiet = { progress: () => {}, stopRequested: () => false };
/** A copy of the finished run in a fresh folder, with the same configuration. */
const copyOfFinished = (): RunFolder => {
  const folder = runFolder(join(mkdtempSync(join(tmpdir(), "advgrpo-integrity-")), config.run.name));
  cpSync(finished.root, folder.root, { recursive: true });
  return folder;
};
const resume = (folder: RunFolder, progress: (line: string) => void = () => {}) => runTraining(config, folder, { progress, stopRequested: () => false, resume: true });
const recordedBytes = async (folder: RunFolder, epoch: number, key: string) => Number((await loadTrainingState(checkpointFile(folder, epoch))).metadata[key]);
const rowsOf = (folder: RunFolder) => readRolloutLog(folder.rollouts).rows.map((r) => [r.epoch, r.groupId, r.member, r.reward]);
const weightsOf = async (folder: RunFolder, epoch: number) => (await loadTrainingState(checkpointFile(folder, epoch))).weights.generator!.map((p) => Array.from(p.data));

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-integrity-"));
  generator = await writeTinyGenerator(dir);
  config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, generator, EPOCHS)));
  finished = runFolder(join(config.run.outputDir, config.run.name));
  await runTraining(config, finished, { ...quiet, resume: false });
});

describe("class 1: a resume never invents data", () => {
  it("a rollout log cut inside the last epoch is repaired by re-running that epoch from the checkpoint before it", async () => {
    const folder = copyOfFinished();
    const [end1, end2] = [await recordedBytes(folder, 1, "rolloutLogBytes"), await recordedBytes(folder, 2, "rolloutLogBytes")];
    truncateSync(folder.rollouts, Math.floor((end1 + end2) / 2));
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    expect(lines.join("\n")).toMatch(/resuming from .*epoch-0001\.safetensors .*rollouts\.arrows .*fewer than the \d+ the checkpoint recorded/s);
    expect(readRolloutLog(folder.rollouts).truncated).toBeUndefined();
    expect(rowsOf(folder)).toEqual(rowsOf(finished));
    expect(await weightsOf(folder, 2)).toEqual(await weightsOf(finished, 2));
  });

  it("a byte flipped inside the last epoch's rollout batch fails its checksum: resumed from the checkpoint before it, re-run, equal", async () => {
    const folder = copyOfFinished();
    const end2 = await recordedBytes(folder, 2, "rolloutLogBytes");
    const bytes = readFileSync(folder.rollouts);
    bytes[end2 - 40]! ^= 0x04; // in the body of the epoch's last batch: framing and sizes stay valid
    writeFileSync(folder.rollouts, bytes);
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    expect(lines.join("\n")).toMatch(/resuming from .*epoch-0001\.safetensors .*rollouts\.arrows' record batch \d+ \(bytes \d+\.\.\d+\) is damaged: CRC-32/s);
    expect(rowsOf(folder)).toEqual(rowsOf(finished));
    expect(await weightsOf(folder, 2)).toEqual(await weightsOf(finished, 2));
  });

  it("a metrics log that lost its end is repaired the same way", async () => {
    const folder = copyOfFinished();
    const metrics = join(folder.root, METRICS_FILE);
    truncateSync(metrics, (await recordedBytes(folder, 2, "metricsBytes")) - 5);
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    expect(lines.join("\n")).toMatch(/metrics\.jsonl/);
    const epochs = (root: string) => readMetricsLog(root).records.filter((r) => r.kind === "epoch").map((r) => r.epoch);
    expect(epochs(folder.root)).toEqual(epochs(finished.root));
    expect(rowsOf(folder)).toEqual(rowsOf(finished));
  });

  it("with no checkpoint the logs still cover, it refuses, saying what is damaged and what to do, and changes nothing", async () => {
    const folder = copyOfFinished();
    truncateSync(folder.rollouts, (await recordedBytes(folder, 0, "rolloutLogBytes")) - 10);
    const before = statSync(folder.rollouts).size;
    await expect(resume(folder)).rejects.toThrow(/cannot resume .* without inventing data[\s\S]*epoch-0000\.safetensors cannot be resumed: .*rollouts\.arrows holds \d+ bytes, fewer than[\s\S]*Restore the damaged files from a backup/);
    expect(statSync(folder.rollouts).size).toBe(before);
    expect(listCheckpoints(folder)).toHaveLength(EPOCHS);
  });
});

describe("class 3: checkpoints are verified on load", () => {
  it("a bit flipped in a weight of the latest checkpoint falls back to the one before, with a visible message", async () => {
    const folder = copyOfFinished();
    const latest = checkpointFile(folder, 2);
    const bytes = readFileSync(latest);
    bytes[bytes.length - 3]! ^= 0x10;
    writeFileSync(latest, bytes);
    writeFileSync(join(folder.checkpoints, "epoch-0003.safetensors.partial-999999999"), "half");
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    const text = lines.join("\n");
    expect(text).toMatch(/epoch-0002\.safetensors is damaged: tensor '[^']+' does not match its SHA-256/);
    expect(text).toMatch(/removed .*partial-999999999/);
    expect(readdirSync(folder.checkpoints).filter((f) => f.includes("partial"))).toEqual([]);
    expect(existsSync(`${latest}.damaged`)).toBe(true);
    expect(await weightsOf(folder, 2)).toEqual(await weightsOf(finished, 2));
    expect(rowsOf(folder)).toEqual(rowsOf(finished));
  });

  it("a truncated latest checkpoint no longer blocks a resume when an intact earlier one exists", async () => {
    const folder = copyOfFinished();
    const latest = checkpointFile(folder, 2);
    truncateSync(latest, statSync(latest).size - 100);
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    expect(lines.join("\n")).toMatch(/epoch-0002\.safetensors is damaged/);
    expect(await weightsOf(folder, 2)).toEqual(await weightsOf(finished, 2));
  });
});

describe("class 2: one writer per run folder", () => {
  it("a second run on a folder in use is refused naming the holder; the lock is released after", async () => {
    const folder = copyOfFinished();
    const more = { ...config, run: { ...config.run, epochs: EPOCHS + 1 } };
    const first = runTraining(more, folder, { ...quiet, resume: true });
    // Same process, so the holder is alive: the second must be refused at once.
    await expect(runTraining(more, folder, { ...quiet, resume: true })).rejects.toThrow(new RegExp(`run\\.lock is held by \`advgrpo run\` \\(pid ${process.pid} on ${hostname()}`));
    await expect(first).rejects.toThrow(/different pipeline configuration/);
    expect(existsSync(join(folder.root, LOCK_FILE))).toBe(false);
  });

  it("a lock left by a process that is gone is taken over with a message", async () => {
    const folder = copyOfFinished();
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(join(folder.root, LOCK_FILE), JSON.stringify({ pid: Number(gone), host: hostname(), command: "run", since: "then" }));
    const lines: string[] = [];
    await resume(folder, (line) => lines.push(line));
    expect(lines.join("\n")).toContain(`took over ${join(folder.root, LOCK_FILE)} from \`advgrpo run\` (pid ${gone}`);
    expect(existsSync(join(folder.root, LOCK_FILE))).toBe(false);
  });
});

describe("class 7: divergence is loud", () => {
  it("a discriminator learning rate of 1e6 stops the run naming the tensor, the epoch and discriminator.lr; earlier checkpoints stay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-diverge-"));
    writeTinyPipeline(dir, generator, 4);
    writeFileSync(join(dir, "diverging.yaml"), "extends: ./tiny.yaml\ndiscriminator: { lr: 1.0e6 }\n");
    const diverging = await Effect.runPromise(loadPipelineFile(join(dir, "diverging.yaml")));
    const folder = runFolder(join(diverging.run.outputDir, diverging.run.name));
    const error = await runTraining(diverging, folder, { ...quiet, resume: false }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/training diverged in epoch \d+ \(generator step \d+\): .*(discriminator|reward).* Most likely responsible: discriminator\.lr/);
    const failedEpoch = Number(/in epoch (\d+)/.exec(error!.message)![1]) - 1;
    expect(listCheckpoints(folder)).toHaveLength(failedEpoch);
  });
});

describe("class 7: a generator checkpoint holding NaN", () => {
  it("is blamed on generator.checkpoint, naming the weight", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-nan-"));
    const bytes = Buffer.from(readFileSync(generator));
    bytes.fill(0xff, bytes.length - 64);
    const nan = join(dir, "nan.safetensors");
    writeFileSync(nan, bytes);
    const bad = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, nan, 1)));
    const error = await runTraining(bad, runFolder(join(bad.run.outputDir, bad.run.name)), { ...quiet, resume: false }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/training diverged in epoch 1 \(generator step 0\): generator weight '[^']+'\[\d+\] is NaN\. Most likely responsible: generator\.checkpoint/);
  });
});
