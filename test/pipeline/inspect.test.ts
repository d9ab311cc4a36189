import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { beforeAll, describe, expect, it } from "vitest";
import { decodePng } from "../../src/io/png.ts";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { exportImages, formatInspection, inspectRun } from "../../src/pipeline/inspect.ts";
import { runFolder, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

let root: string;
let out: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-inspect-"));
  out = dir;
  const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 4)));
  root = runFolderOf(config).root;
  await runTraining(config, runFolderOf(config), { resume: false, progress: () => {}, stopRequested: () => false });
});

describe("advgrpo inspect", () => {
  it("summarises every epoch from the rollout and metrics logs", () => {
    const run = inspectRun(root);
    expect(run.epochs.map((e) => [e.epoch, e.phase, e.rows, e.groups])).toEqual([
      [0, "D", 8, 2],
      [1, "G", 8, 2],
      [2, "D", 8, 2],
      [3, "G", 8, 2],
    ]);
    const recorded = readMetricsLog(root).records.filter((r) => r.kind === "epoch");
    run.epochs.forEach((e, i) => {
      expect(e.rewards.total!.mean).toBeCloseTo(recorded[i]!.metrics.rewardMean!, 12);
      expect(e.rewards.total!.std).toBeCloseTo(recorded[i]!.metrics.rewardStd!, 12);
      expect(e.rewards["adversarial-dino"]!.mean).toBeCloseTo(recorded[i]!.metrics["reward.adversarial-dino"]!, 12);
      expect(e.advantageAbsMean).toBeCloseTo(recorded[i]!.metrics.advantageAbsMean!, 12);
      expect(e.zeroStdGroupFraction).toBe(recorded[i]!.metrics.zeroStdGroupFraction);
      expect(e.seconds).toBe(recorded[i]!.metrics.seconds);
    });
    const [d, g] = [run.epochs[0]!, run.epochs[1]!];
    const metricsOf = (kind: "discriminator" | "generator", epoch: number) =>
      readMetricsLog(root).records.filter((r) => r.kind === kind && r.epoch === epoch).map((r) => r.metrics);
    expect(d.discriminatorAccuracy).toBe(metricsOf("discriminator", 0)[0]!.accuracy);
    expect([d.ratioMin, d.ratioMax, d.clipFraction, g.discriminatorAccuracy]).toEqual([undefined, undefined, undefined, undefined]);
    // A G epoch takes two optimiser steps; the first is on-policy, so its ratio is exactly 1 and nothing is clipped.
    const [first, second] = metricsOf("generator", 1) as [Record<string, number>, Record<string, number>];
    expect(first).toMatchObject({ ratioMin: 1, ratioMax: 1, clipFracHigh: 0, clipFracLow: 0 });
    expect(g.ratioMin).toBe(Math.min(1, second.ratioMin!));
    expect(g.ratioMax).toBe(Math.max(1, second.ratioMax!));
    expect(g.clipFraction).toBe((second.clipFracHigh! + second.clipFracLow!) / 2);
    expect(run.latestEval?.epoch).toBe(4);

    const text = formatInspection(run);
    expect(text).toMatch(/^run tiny .*: 4 epochs, 32 rollouts/);
    expect(text).toMatch(/epoch +phase +rows +reward mean±std +adversarial-dino mean±std +\|A\| mean +zero-std +D acc +ratio min +ratio max +clip +seconds/);
    expect(text.split("\n").filter((l) => /^[0-3] +[DG] +8 /.test(l))).toHaveLength(4);
    expect(text).toMatch(/latest evaluation \(after 4 epochs\):\n +alignment/);
  });

  it("exports an epoch's images as a groups x members grid", () => {
    const file = join(out, "epoch-1.png");
    expect(exportImages(root, { epoch: 1, out: file })).toMatchObject({ groups: 2, members: 4, height: 2 * 34 + 2, width: 4 * 34 + 2 });
    const grid = decodePng(readFileSync(file));
    expect([grid.height, grid.width]).toEqual([70, 138]);
    // The first cell (after the 2-pixel border) is the first group's member 0.
    const rows = readRolloutLog(runFolder(root).rollouts, { epoch: 1 }).rows;
    const first = decodePng(rows.find((r) => r.member === 0)!.png);
    for (let c = 0; c < 3; c++) expect(grid.data[c * 70 * 138 + 2 * 138 + 2]).toBe(first.data[c * 32 * 32]);

    // Group ids count on across epochs (2 per epoch here): epoch 3 holds groups 6 and 7.
    const one = exportImages(root, { epoch: 3, group: rows[0]!.groupId + 4, out: join(out, "one.png"), scale: 2 });
    expect(one).toMatchObject({ groups: 1, members: 4, height: 64 + 4, width: 4 * 66 + 2 });
    expect(() => exportImages(root, { epoch: 9, out: join(out, "none.png") })).toThrow(/no rows of epoch 9/);
  });

  it("fails clearly on a missing run folder", () => {
    expect(() => inspectRun(join(tmpdir(), "advgrpo-no-such-run"))).toThrow(/no such run folder/);
  });

  it("the CLI prints the table and writes the grid", async () => {
    const cli = async (args: string[]) => {
      const child = spawn(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", "inspect", ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      child.stdout.on("data", (d) => (text += d));
      child.stderr.on("data", (d) => (text += d));
      return { code: await new Promise<number | null>((resolve) => child.on("close", resolve)), text };
    };
    const table = await cli([root]);
    expect(table.code).toBe(0);
    expect(table.text).toMatch(/^3 +G +8 /m);
    const grid = await cli([root, "--images", "0", "--out", join(out, "cli.png")]);
    expect(grid).toMatchObject({ code: 0 });
    expect(grid.text).toMatch(/2 groups x 4 members, 138x70 px/);
    expect(await cli([root, "--images", "0"])).toMatchObject({ code: 1, text: expect.stringMatching(/--images needs --out/) });
  });
});
