/**
 * Rollouts (and epochs) per second of the training loop on pipelines/default.yaml: one process at lag 0 (the
 * baseline), one process at lag 1 (a sampling thread samples the next epoch while the learner learns), one
 * learner with 1 and 2 `advgrpo worker` processes over a private nats-server at lag 0, and with 2 workers at
 * lag 1, each a short run in a temporary folder. Rates count the epochs after the first (which includes the workers'
 * start-up) from the runs' own per-epoch seconds. Learner and workers share the machine's cores, so the
 * ratios show the protocol's cost and what the lag-1 overlap recovers, not multi-machine scaling (see
 * `projectScaleOut` for that).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Effect } from "effect";
import { startNatsServer } from "../distributed/local-server.ts";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import { runFolderOf } from "../pipeline/run-folder.ts";
import { runTraining } from "../pipeline/train.ts";
import { readMetricsLog } from "../report/metrics-log.ts";

interface ScaleOutRow {
  readonly name: string;
  readonly workers: number;
  readonly rolloutsPerSecond: number;
  readonly epochsPerSecond: number;
  /** Share of the single process's epoch time spent behind each port. */
  readonly stageMs: Readonly<Record<string, number>>;
}

const EPOCHS = 5;

const pipelineFile = (dir: string, name: string, url: string | undefined, lag: number): string => {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `extends: ${resolve("pipelines/default.yaml")}`,
      `run: { name: ${name}, outputDir: ${join(dir, "runs")}, epochs: ${EPOCHS} }`,
      "discriminator: { dTimes: 2, warmupEpochs: 0 }",
      "eval: { every: 1000, heldOutPrompts: 1 }",
      `learner: { maxPolicyLag: ${lag} }`,
      url ? `distributed: { url: "${url}" }` : "",
    ].join("\n"),
  );
  return file;
};

const exited = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r())));

export const benchScaleOut = async (): Promise<ScaleOutRow[]> => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-scale-out-"));
  const server = await startNatsServer();
  const rows: ScaleOutRow[] = [];
  try {
    for (const [workers, lag] of [[0, 0], [0, 1], [1, 0], [2, 0], [2, 1]] as const) {
      const name = workers === 0 ? `single-lag-${lag}` : `workers-${workers}-lag-${lag}`;
      const file = pipelineFile(dir, name, workers === 0 ? undefined : server.url, lag);
      const children = Array.from({ length: workers }, () => spawn(process.execPath, ["src/cli/main.ts", "worker", file], { stdio: ["ignore", "ignore", "pipe"] }));
      try {
        const config = await Effect.runPromise(loadPipelineFile(file));
        const folder = runFolderOf(config);
        // A worker that dies would leave the learner waiting for its groups: fail with what it said instead.
        const died: Promise<never>[] = children.map(
          (c) =>
            new Promise<never>((_, reject) => {
              let said = "";
              c.stderr!.on("data", (d) => (said += d));
              c.once("exit", (code) => reject(new Error(`a benchmark worker exited (${code}): ${said.slice(-2000)}`)));
            }),
        );
        await Promise.race([runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => false }), ...died]);
        for (const d of died) d.catch(() => {}); // the workers are stopped below
        const epochs = readMetricsLog(folder.root).records.filter((r) => r.kind === "epoch" && r.epoch > 0);
        const seconds = epochs.reduce((s, r) => s + r.metrics.seconds!, 0);
        const stageMs: Record<string, number> = {};
        for (const r of epochs) for (const [k, v] of Object.entries(r.metrics)) if (k.startsWith("ms.")) stageMs[k.slice(3)] = (stageMs[k.slice(3)] ?? 0) + v;
        rows.push({
          name: workers === 0 ? `single process, lag ${lag}${lag ? " (sampling thread)" : ""}` : `learner + ${workers} worker${workers > 1 ? "s" : ""}, lag ${lag}`,
          workers,
          rolloutsPerSecond: (epochs.length * config.sampler.promptsPerEpoch * config.sampler.groupSize) / seconds,
          epochsPerSecond: epochs.length / seconds,
          stageMs,
        });
      } finally {
        for (const c of children) {
          c.kill("SIGTERM");
          await exited(c);
        }
      }
    }
    return rows;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
};

/**
 * Expected rollouts/s of 1 learner + N GPU workers at SD3.5-Medium shapes, from per-image GPU costs stated as
 * assumptions (FLOP counts at an assumed sustained rate; none measured here, no GPU is reachable).
 *   sampling an image: 10 steps x 2 (CFG) transformer forwards of SD3.5-Medium (2.5e9 parameters, 1024
 *     image + 333 text tokens: 2 x 2.5e9 x 1357 = 6.8 TFLOP each) + VAE decode (~1.2 TFLOP) = 137 TFLOP;
 *   learning on an image: the SDE window's 2 steps x 2 (CFG) forwards + their backward (2x a forward) = 81 TFLOP;
 *   features + reward: DINOv2 ViT-B/14 at 518 px (~0.1 TFLOP), negligible;
 *   one GPU sustains 125 TFLOP/s (40% of an A100's 312 bf16 peak).
 * Lag 0: an epoch is sampling on N workers, then learning: 1 / (ts / N + tl). Lag >= 1: the two overlap and
 * the slower side sets the pace: min(N / ts, 1 / tl). Transfer (a 512 px group of 16 is ~3 MB of latents and
 * tokens per image at float32) adds < 1% on 10 Gb/s and is ignored.
 */
export const projectScaleOut = (workers: readonly number[]) => {
  const gpuTflops = 125;
  const ts = 137 / gpuTflops;
  const tl = 81 / gpuTflops;
  return workers.map((n) => ({ workers: n, lag0: 1 / (ts / n + tl), lag1: Math.min(n / ts, 1 / tl), sampleSecondsPerImage: ts, learnSecondsPerImage: tl }));
};
