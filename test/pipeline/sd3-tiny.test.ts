/**
 * pipelines/presets/sd3-architecture-tiny.yaml end to end: Adv-GRPO with LoRA through the imported tiny SD3
 * transformer, its VAE decoder, the DINOv2 export and the prompt-embeddings file (all torch-exported fixtures).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { decodeSafetensors } from "../../src/io/safetensors.ts";
import { loraFileOf } from "../../src/pipeline/lora-export.ts";
import { loadTrainingState } from "../../src/io/training-state.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { replayRun } from "../../src/pipeline/replay.ts";
import { listCheckpoints, runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { readMetricsLog } from "../../src/report/metrics-log.ts";
import { halfModelBytes } from "../graph/onnx-fixtures.ts";
import { tinySd3Pipeline } from "./fixtures.ts";

const quiet = { progress: () => {}, stopRequested: () => false };
/** How often the kill test looks for the checkpoint it waits for (only how soon it notices, never the outcome). */
const CHECKPOINT_POLL_MS = 10;

const cli = (args: string[]) => spawn(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });

describe("the SD3 architecture end to end (tiny torch exports)", () => {
  it("trains LoRA through the imported transformer: rollouts, on-policy first steps, moving reward, peft LoRA file, exact replay", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-"));
    const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir)));
    const folder = runFolderOf(config);
    const summary = await runTraining(config, folder, { ...quiet, resume: false });
    expect(summary.epochsCompleted).toBe(4);
    const log = readRolloutLog(folder.rollouts);
    const rows = log.rows;
    expect(rows.length).toBe(4 * 2 * 4);
    expect(log.metadata.tensorSizes.latent).toBe(16 * 8 * 8);
    expect(rows.every((r) => r.steps.length === 2)).toBe(true);
    const { records } = readMetricsLog(folder.root);
    const generator = records.filter((r) => r.kind === "generator");
    expect(generator.length).toBe(4);
    // the first optimiser step of each generator epoch runs on the weights that sampled: ratio exactly 1
    for (const r of generator.filter((g) => g.step! % 2 === 1)) expect([r.metrics.ratioMin, r.metrics.ratioMax]).toEqual([1, 1]);
    // the second step sees the first step's update: the adapters moved the policy
    expect(generator.filter((g) => g.step! % 2 === 0).some((r) => r.metrics.ratioMin !== 1 || r.metrics.ratioMax !== 1)).toBe(true);
    const meanReward = (epoch: number) => rows.filter((r) => r.epoch === epoch).reduce((s, r) => s + r.reward, 0) / 8;
    expect(new Set([0, 1, 2, 3].map(meanReward)).size).toBe(4);
    const state = await loadTrainingState(listCheckpoints(folder).at(-1)!);
    const adapters = state.weights.generator!;
    expect(adapters.length).toBeGreaterThan(0);
    expect(adapters.every((p) => /lora_[AB]$/.test(p.name))).toBe(true);
    expect(adapters.filter((p) => p.name.endsWith("lora_B")).some((p) => p.data.some((v) => v !== 0))).toBe(true);

    // the adapters in peft naming: diffusers' load_lora_weights applies delta W = lora_B @ lora_A (alpha/r folded into
    // lora_B, metadata lora_alpha = r); it must equal (alpha/r) (A B)^T of the EMA weights advgrpo trains
    const peft = decodeSafetensors(readFileSync(loraFileOf(folder)), "lora");
    const key = "transformer.transformer_blocks.0.attn.to_q";
    const pA = peft.tensors.find((t) => t.name === `${key}.lora_A.weight`)!;
    const pB = peft.tensors.find((t) => t.name === `${key}.lora_B.weight`)!;
    expect([pA.shape, pB.shape]).toEqual([[4, 32], [32, 4]]);
    expect(peft.tensors.length).toBe(2 * JSON.parse(peft.metadata.lora_adapter_metadata!)["transformer.target_modules"].length);
    const ema = new Map(state.weights["generator.ema"]!.map((p) => [p.name, p.data]));
    const [A, B] = [ema.get(`net.transformer_blocks.0.attn.to_q.lora_A`)!, ema.get(`net.transformer_blocks.0.attn.to_q.lora_B`)!];
    let maxError = 0;
    for (let o = 0; o < 32; o++) {
      for (let i = 0; i < 32; i++) {
        let peftDelta = 0;
        let ours = 0;
        for (let r = 0; r < 4; r++) {
          peftDelta += (pB.data[o * 4 + r] as number) * (pA.data[r * 32 + i] as number);
          ours += A[i * 4 + r]! * B[r * 32 + o]! * (8 / 4);
        }
        maxError = Math.max(maxError, Math.abs(peftDelta - ours));
      }
    }
    expect(maxError).toBeLessThan(1e-6);

    const report = await replayRun(folder.root);
    expect(report.differs, JSON.stringify(report.columns.filter((c) => c.differing > 0))).toBe(false);
  });

  it("a CLIP-style ONNX text encoder with its tokenizer.json can stand in for the embeddings file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-clip-"));
    const text = "generator: { onnx: { textEmbeddings: null, textEncoder: test/fixtures/text/tiny_clip.onnx, tokenizer: test/fixtures/text/tokenizer.json, maxTextLength: 8 } }";
    const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir, text, 2)));
    expect(config.generator.onnx!.textEmbeddings).toBeUndefined();
    await runTraining(config, runFolderOf(config), { ...quiet, resume: false });
    const rows = readRolloutLog(runFolderOf(config).rollouts).rows;
    expect(rows.length).toBe(2 * 2 * 4);
    expect(rows.every((r) => Number.isFinite(r.reward))).toBe(true);
    const first = readMetricsLog(runFolderOf(config).root).records.find((r) => r.kind === "generator" && r.step === 1)!;
    expect([first.metrics.ratioMin, first.metrics.ratioMax]).toEqual([1, 1]);
  });

  it("the external-data transformer (3 files), VAE decoder and DINOv2 backbone train bit-identically to the embedded ones", async () => {
    const losses = async (suffix: string) => {
      const dir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-ext-"));
      const files = `generator: { onnx: { velocityModel: test/fixtures/onnx/sd3_transformer${suffix}.onnx, vaeDecoder: test/fixtures/onnx/vae_decoder${suffix}.onnx } }\nfeatures: { backbone: test/fixtures/onnx/dinov2${suffix}.onnx }`;
      const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir, files, 2)));
      await runTraining(config, runFolderOf(config), { ...quiet, resume: false });
      const rewards = readRolloutLog(runFolderOf(config).rollouts).rows.map((r) => r.reward);
      return { rewards, losses: readMetricsLog(runFolderOf(config).root).records.filter((r) => r.kind === "generator").map((r) => r.metrics.loss) };
    };
    const embedded = await losses("");
    const external = await losses("_external");
    expect(embedded.losses.length).toBe(2); // one generator epoch of two optimiser steps
    expect(external).toEqual(embedded);
  });

  it("fp16 weights kept fp16 train bit-identically to them widened; micro-batches of 2 keep the first ratio at 1 and the losses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-half-"));
    const half = join(dir, "sd3_transformer_fp16.onnx");
    writeFileSync(half, halfModelBytes("test/fixtures/onnx/sd3_transformer.onnx"));
    const run = async (name: string, learner: string, weights: "widen" | "keep") => {
      const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir, `generator: { onnx: { velocityModel: ${half}, float16Weights: ${weights} } }\nlearner: { ${learner} }`, 2)));
      const named = { ...config, run: { ...config.run, name } };
      await runTraining(named, runFolderOf(named), { ...quiet, resume: false });
      return readMetricsLog(runFolderOf(named).root).records.filter((r) => r.kind === "generator").map((r) => r.metrics);
    };
    const widened = await run("widen", "lr: 1.0e-2", "widen");
    const kept = await run("keep", "lr: 1.0e-2", "keep");
    expect(widened.length).toBe(2);
    expect(kept.map((m) => m.loss)).toEqual(widened.map((m) => m.loss));
    expect(kept.map((m) => m.gradNorm)).toEqual(widened.map((m) => m.gradNorm));
    const sliced = await run("micro", "microBatch: 2", "keep");
    expect(sliced[0]!.microBatches).toBe(2 * widened[0]!.microBatches!);
    expect([sliced[0]!.ratioMin, sliced[0]!.ratioMax]).toEqual([1, 1]);
    for (const [i, m] of sliced.entries()) {
      expect(Math.abs(m.loss! - widened[i]!.loss!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(widened[i]!.loss!)));
      expect(Math.abs(m.gradNorm! - widened[i]!.gradNorm!)).toBeLessThanOrEqual(1e-4 * widened[i]!.gradNorm!);
    }
  });

  it("a run killed with SIGKILL resumes to the same rollouts and adapters as an uninterrupted run", async () => {
    const straightDir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-straight-"));
    const straight = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(straightDir, "", 6)));
    await runTraining(straight, runFolderOf(straight), { ...quiet, resume: false });

    const dir = mkdtempSync(join(tmpdir(), "advgrpo-sd3-kill-"));
    const pipeline = tinySd3Pipeline(dir, "", 6);
    const folder = runFolderOf(await Effect.runPromise(loadPipelineFile(pipeline)));
    const child = cli(["run", pipeline]);
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (listCheckpoints(folder).length >= 2) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, CHECKPOINT_POLL_MS);
      child.on("exit", (code) => {
        clearInterval(poll);
        if (code !== null) reject(new Error(`run finished (exit ${code}) before it could be killed`));
      });
    });
    await new Promise((resolve) => child.on("close", resolve));
    expect(listCheckpoints(folder).length).toBeLessThan(6);
    const resumed = cli(["run", pipeline, "--resume"]);
    expect(await new Promise<number | null>((resolve) => resumed.on("close", resolve))).toBe(0);

    const a = readRolloutLog(runFolderOf(straight).rollouts).rows;
    const b = readRolloutLog(folder.rollouts).rows;
    expect(b.map((r) => [r.epoch, r.groupId, r.member, r.seed, r.reward])).toEqual(a.map((r) => [r.epoch, r.groupId, r.member, r.seed, r.reward]));
    const [sa, sb] = [await loadTrainingState(listCheckpoints(runFolderOf(straight)).at(-1)!), await loadTrainingState(listCheckpoints(folder).at(-1)!)];
    expect(sb.weights.generator!.map((p) => Array.from(p.data))).toEqual(sa.weights.generator!.map((p) => Array.from(p.data)));
  });
});
