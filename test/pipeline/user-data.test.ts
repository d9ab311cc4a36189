import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const quiet = { progress: () => {}, stopRequested: () => false };

/** Striped images of assorted sizes and formats: the "style" the discriminator learns to prefer. */
const styleFolder = async (dir: string): Promise<string> => {
  const folder = join(dir, "style");
  mkdirSync(folder);
  const sizes = [[40, 24, "jpeg"], [17, 17, "png"], [20, 64, "webp"], [33, 30, "png"], [50, 50, "jpeg"]] as const;
  for (const [i, [width, height, format]] of sizes.entries()) {
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set((x + y + i) % 6 < 3 ? [230, 200, 40] : [30, 40, 160], 3 * (y * width + x));
    writeFileSync(join(folder, `ref-${i}.${format === "jpeg" ? "jpg" : format}`), await sharp(rgb, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer());
  }
  return folder;
};

// The embedded generator's bag-of-words encoder knows only the shapes world's words, so the prompts use them,
// in combinations and wordings of the user's choosing.
describe("a user's prompts and an unpaired style folder", () => {
  it("a prompt file drives sampling and a mixed JPEG/PNG/WebP folder drives the adversarial reward", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-user-data-"));
    writeFileSync(join(dir, "train.txt"), "a large purple cross\na small green triangle on the right\n\na yellow square, black background\n");
    writeFileSync(join(dir, "held-out.txt"), "an orange circle, gray background\na blue cross on the left\n");
    const extra = [`prompts: { train: ${join(dir, "train.txt")}, heldOut: ${join(dir, "held-out.txt")} }`, `references: { source: ${await styleFolder(dir)}, perPrompt: 2 }`].join("\n");
    const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 2, extra)));
    const folder = runFolderOf(config);
    await runTraining(config, folder, { ...quiet, resume: false });
    const rows = readRolloutLog(folder.rollouts).rows;
    expect(new Set(rows.map((r) => r.prompt)).size).toBeGreaterThan(1);
    for (const r of rows) expect(["a large purple cross", "a small green triangle on the right", "a yellow square, black background"]).toContain(r.prompt);
    const rewards = rows.map((r) => r.reward);
    expect(rewards.every(Number.isFinite)).toBe(true);
    expect(Math.max(...rewards) - Math.min(...rewards)).toBeGreaterThan(0);
    const { records } = readMetricsLog(folder.root);
    const discriminator = records.filter((r) => r.kind === "discriminator");
    expect(discriminator.length).toBeGreaterThan(0);
    const evals = records.filter((r) => r.kind === "eval");
    expect(evals.length).toBe(2);
    for (const e of evals) {
      expect(Number.isFinite(e.metrics.dinoSimilarity)).toBe(true);
      expect(Number.isNaN(e.metrics.alignment)).toBe(true); // no analyser for a user's prompts
    }
  });
});
