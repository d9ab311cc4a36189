import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGeneratorWeights } from "../../src/models/generator/weights.ts";
import { CheckpointError } from "../../src/pretrain/checkpoint.ts";
import { learningRateAt, pretrain, type PretrainOptions, WEIGHTS_FILE } from "../../src/pretrain/pretrain.ts";
import { formatProgress } from "../../src/pretrain/progress.ts";
import { tinyConfig } from "./generator-fixtures.ts";

const tinyRun = (out: string, overrides: Partial<PretrainOptions> = {}): PretrainOptions => ({
  steps: 10,
  batch: 4,
  lr: 3e-3,
  seed: 7,
  out,
  checkpointEvery: 4,
  resume: false,
  model: { ...tinyConfig, size: 16 },
  warmupSteps: 2,
  log: () => {},
  ...overrides,
});

const freshDir = () => mkdtempSync(join(tmpdir(), "pretrain-"));

describe("flow-matching pretraining", () => {
  it("lowers the loss of a tiny generator and writes loadable weights", async () => {
    const out = freshDir();
    const lines: string[] = [];
    const result = await pretrain(tinyRun(out, { steps: 60, batch: 8, lr: 1e-2, logEvery: 30, log: (line) => lines.push(line) }));
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(result.losses.slice(-10))).toBeLessThan(0.85 * mean(result.losses.slice(0, 10)));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^step 60\/60 {2}loss \d+\.\d{4} {2}\|g\| \d+\.\d{3} {2}lr \S+ {2}\d+\.\d{2} it\/s {2}ETA 0m00s$/);
    const weights = await loadGeneratorWeights(join(out, WEIGHTS_FILE));
    expect(weights.config).toEqual({ ...tinyConfig, size: 16 });
    expect(weights.params.map((p) => p.name)).toEqual(result.ema.map((p) => p.name));
    expect(weights.params.every((p, i) => p.data.every((v, j) => v === result.ema[i]!.data[j]))).toBe(true);
  });

  it("resuming from a checkpoint continues exactly: params and EMA equal an uninterrupted run, bit for bit", async () => {
    const straight = await pretrain(tinyRun(freshDir()));
    const split = freshDir();
    const first = await pretrain(tinyRun(split, { stopAt: 6 }));
    expect(first.step).toBe(6);
    const resumed = await pretrain(tinyRun(split, { resume: true }));
    expect(resumed.step).toBe(10);
    expect(resumed.losses).toEqual(straight.losses.slice(6));
    expect(resumed.params).toEqual(straight.params);
    expect(resumed.ema).toEqual(straight.ema);
  });

  it("a further phase starts from given generator weights", async () => {
    const first = freshDir();
    await pretrain(tinyRun(first, { steps: 3 }));
    const start = await loadGeneratorWeights(join(first, WEIGHTS_FILE));
    const still = await pretrain(tinyRun(freshDir(), { steps: 2, lr: 0, initFrom: join(first, WEIGHTS_FILE) }));
    expect(still.params).toEqual(start.params);
    await expect(pretrain(tinyRun(freshDir(), { steps: 2, initFrom: join(first, WEIGHTS_FILE), model: tinyConfig }))).rejects.toThrow(/model config/);
  });

  it("refuses to resume with other settings, or without a checkpoint", async () => {
    const out = freshDir();
    await pretrain(tinyRun(out, { steps: 4 }));
    await expect(pretrain(tinyRun(out, { steps: 4, lr: 1e-3, resume: true }))).rejects.toThrow(CheckpointError);
    await expect(pretrain(tinyRun(freshDir(), { resume: true }))).rejects.toThrow(/no such file/);
  });
});

describe("learning-rate schedule and progress", () => {
  it("warms up linearly, then decays by a half cosine to the floor", () => {
    expect(learningRateAt(0, 100, 1, 10, 0.1)).toBeCloseTo(0.1);
    expect(learningRateAt(9, 100, 1, 10, 0.1)).toBeCloseTo(1);
    expect(learningRateAt(10, 100, 1, 10, 0.1)).toBeCloseTo(1);
    expect(learningRateAt(55, 100, 1, 10, 0.1)).toBeCloseTo(0.55);
    expect(learningRateAt(100, 100, 1, 10, 0.1)).toBeCloseTo(0.1);
  });

  it("prints step, loss, speed and time left", () => {
    expect(formatProgress({ step: 100, steps: 1000, loss: 0.12345, gradNorm: 0.5, lr: 1e-3, seconds: 20, windowSteps: 50 })).toBe(
      "step  100/1000  loss 0.1235  |g| 0.500  lr 1.00e-3  2.50 it/s  ETA 6m00s",
    );
  });
});
