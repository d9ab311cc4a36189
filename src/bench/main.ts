/**
 * `advgrpo bench`: every performance figure the project tracks, each beside a baseline measured in the
 * same run (the machines are shared and drift 10-30% between runs).
 */
import { Effect } from "effect";
import { DEFAULT_BACKBONE, DEFAULT_BACKBONE_PATCHES, loadDefaultBackbone } from "../models/backbone/default.ts";
import { defaultDiTConfig } from "../models/generator/dit.ts";
import { benchOptimizers } from "./optimizer.ts";
import { loadPipelineFile } from "../pipeline/config/load.ts";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import { runGraphOptimisationBench, SD3_BENCH_MODEL_ENV } from "./graph-optimisation.ts";
import { benchFeaturesAndReward } from "./reward.ts";
import { benchMatMul, openMatMul } from "./matmul.ts";
import { compareWithPytorch, pytorchMissing } from "./pytorch.ts";
import { benchEngineBlocks } from "./engine.ts";
import { benchLoop } from "./loop.ts";
import { benchBatchChecksum, benchRolloutLogBytes, type LogShape } from "./rollout-log.ts";
import { benchSampling } from "./sampling.ts";
import { benchScaleOut, projectScaleOut } from "./scale-out.ts";

/** The default generator's block sizes (src/models/generator/dit.ts): 16 images, 32x32, 64 tokens of 128. */
const defaultSizes = { batch: 16, channels: 32, resolution: 32, tokens: 64, width: 128, heads: 4 } as const;

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** One block of the report: its lines, measured against the MatMul baseline of this run where it needs one. */
type Section = (config: PipelineConfig, log: (line: string) => void, baseline: { readonly ms: number }) => Promise<void>;

const engineSection: Section = async (_config, log, baseline) => {
  await logEngineBlocks(log);
  const optimizers = await benchOptimizers(1_000_000);
  log(
    `in-place optimiser step, 1M parameters: AdamW ${optimizers.adamWMs.toFixed(2)} ms (CPU ${optimizers.adamWCpuMs.toFixed(2)} ms, ${(optimizers.adamWMs / baseline.ms).toFixed(2)}x the MatMul), ` +
      `SGD+momentum ${optimizers.sgdMomentumMs.toFixed(2)} ms (CPU ${optimizers.sgdMomentumCpuMs.toFixed(2)} ms)\n`,
  );
};

const pytorchSection: Section = async (_config, log) => {
  const missing = pytorchMissing();
  if (missing) return void log(`PyTorch side by side: skipped (${missing})\n`);
  const torch = await compareWithPytorch(defaultDiTConfig, { forwardBatch: 32, trainBatch: 16, rounds: 7, warmup: 2 });
  log(`default DiT (${(torch.parameters / 1e6).toFixed(2)}M parameters) vs PyTorch ${torch.torchVersion} eager, 2 threads each, ${torch.rounds} alternated rounds, medians`);
  log(`  PyTorch's BLAS: ${torch.blas}`);
  log("                  elapsed: engine vs PyTorch (ratio)        CPU time, all threads: engine vs PyTorch (ratio)");
  for (const [label, s] of [["forward B32", torch.forward], ["train step B16", torch.trainStep]] as const) {
    log(
      `  ${label.padEnd(15)} ${s.engineMs.toFixed(1).padStart(7)} ms vs ${s.torchMs.toFixed(1).padStart(7)} ms (${s.ratio.toFixed(2)}x)` +
        `        ${s.engineCpuMs.toFixed(1).padStart(7)} ms vs ${s.torchCpuMs.toFixed(1).padStart(7)} ms (${s.cpuRatio.toFixed(2)}x)`,
    );
  }
  log("");
};

const samplingAndRewardSection: Section = async (config, log) => {
  const { groupSize, steps, cfgWeight } = config.sampler;
  log(`sampling, default generator, group of ${groupSize}, CFG ${cfgWeight}`);
  for (const s of await benchSampling({ batch: groupSize, steps, cfgWeight, runs: 5 })) {
    log(`  ${s.name.padEnd(34)} ${s.imagesPerSecond.toFixed(1).padStart(7)} images/s`);
  }
  const extractor = await loadDefaultBackbone();
  const reward = await benchFeaturesAndReward(extractor, { batch: groupSize, repeats: 10 });
  await extractor.release();
  log(`features + reward, embedded backbone, batch ${reward.batch}: ${reward.featuresMsPerImage.toFixed(2)} + ${reward.rewardMsPerImage.toFixed(2)} ms per image\n`);
};

const loopSection: Section = async (config, log) => {
  const loop = await benchLoop(config);
  const total = Object.values(loop.stageMs).reduce((a, b) => a + b, 0);
  log(`training loop, pipelines/default.yaml (${config.sampler.promptsPerEpoch * config.sampler.groupSize} rollouts per epoch)`);
  log(`  D epoch ${loop.discriminatorEpochSeconds.toFixed(2)} s, G epoch ${loop.generatorEpochSeconds.toFixed(2)} s (G/D ${(loop.generatorEpochSeconds / loop.discriminatorEpochSeconds).toFixed(2)}x), peak RSS ${loop.peakRssMB.toFixed(0)} MB`);
  log(`  time per stage: ${Object.entries(loop.stageMs).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${pct(v / total)}`).join(", ")}`);
};

const scaleOutSection: Section = async (_config, log) => {
  log("\nbounded lag and scale-out over NATS JetStream, pipelines/default.yaml, epochs 2-5 (ratios against the single process at lag 0 in this run)");
  const scale = await benchScaleOut();
  for (const r of scale) log(`  ${r.name.padEnd(40)} ${r.rolloutsPerSecond.toFixed(2).padStart(7)} rollouts/s  ${r.epochsPerSecond.toFixed(3)} epochs/s  ${(r.rolloutsPerSecond / scale[0]!.rolloutsPerSecond).toFixed(2)}x`);
  log("  (learner and workers share this machine's cores: the ratios show the protocol's cost and the lag-1 overlap, not multi-machine scaling)");
  log("expected at SD3.5-Medium shapes, 1 learner GPU + N worker GPUs (assumptions in src/bench/scale-out.ts)");
  for (const p of projectScaleOut([1, 2, 4, 8])) log(`  N=${p.workers}: lag 0 ${p.lag0.toFixed(2)} rollouts/s, lag 1 ${p.lag1.toFixed(2)} rollouts/s`);
};

const SECTIONS: readonly Section[] = [
  engineSection,
  pytorchSection,
  samplingAndRewardSection,
  loopSection,
  (config, log) => logRolloutBytes(config, log),
  scaleOutSection,
  (_config, log) => runGraphOptimisationBench(process.env[SD3_BENCH_MODEL_ENV], log),
];

/** `sectionsDone`: called with the count of report sections finished (0 once the baseline is measured) and their total. */
export const runBenchmarks = async (log: (line: string) => void = console.log, sectionsDone: (done: number, total: number) => void = () => {}): Promise<void> => {
  const config = await Effect.runPromise(loadPipelineFile("pipelines/default.yaml"));
  log("advgrpo bench — medians after warm-up, CPU execution provider, 2 intra-op threads, spinning off\n");
  const baseline = await logBaseline(log);
  sectionsDone(0, SECTIONS.length);
  for (const [i, section] of SECTIONS.entries()) {
    await section(config, log, baseline);
    sectionsDone(i + 1, SECTIONS.length);
  }
};

/** `advgrpo bench engine`: only the MatMul baseline and the engine blocks, for iterating on the engine. */
export const runEngineBenchmarks = async (log: (line: string) => void = console.log): Promise<void> => {
  await logBaseline(log);
  await logEngineBlocks(log);
};

const logBaseline = async (log: (line: string) => void) => {
  const baseline = await benchMatMul(1024);
  log(`baseline: ORT MatMul 1024x1024 fp32  ${baseline.ms.toFixed(1)} ms  ${baseline.gflops.toFixed(1)} GFLOP/s\n`);
  return baseline;
};

const logEngineBlocks = async (log: (line: string) => void): Promise<void> => {
  log("engine blocks (train step = forward + backward graph + in-place AdamW); vs MatMul = median over rounds of the");
  log("block's GFLOP/s over the MatMul's in the same round (MatMul, forward, step, repeated)");
  log("block                               fwd ms  step ms  step/fwd  fwd GFLOP/s (vs MatMul; by CPU time)  step GFLOP/s (vs MatMul; by CPU time)");
  const product = await openMatMul(1024);
  const blocks = await benchEngineBlocks(defaultSizes, product);
  await product.release();
  for (const r of blocks) {
    log(
      `${r.name.padEnd(34)} ${r.forwardMs.toFixed(2).padStart(7)} ${r.trainStepMs.toFixed(2).padStart(8)} ${(r.trainStepMs / r.forwardMs).toFixed(2).padStart(9)}` +
        `  ${r.forwardGflops.toFixed(1).padStart(10)} (${pct(r.forwardVsMatMul).padStart(4)}; ${pct(r.forwardVsMatMulCpu).padStart(4)})` +
        `            ${r.trainGflops.toFixed(1).padStart(10)} (${pct(r.trainVsMatMul).padStart(4)}; ${pct(r.trainVsMatMulCpu).padStart(4)})`,
    );
  }
};

/** SD3.5-Medium as the paper trains it: 512 px (VAE latent 16 x 64 x 64), SDE window 2, DINOv2 ViT-B/14 at 518 px. */
const SD35_MEDIUM: LogShape = { name: "SD3.5-Medium, paper setup", latent: 16 * 64 * 64, windowSteps: 2, feature: 768, patchTokens: 37 * 37, imageSize: 512 };

const logRolloutBytes = async (config: PipelineConfig, log: (line: string) => void): Promise<void> => {
  const { latentChannels, sampleSize } = config.generator;
  const defaults: LogShape = {
    name: "pipelines/default.yaml",
    latent: latentChannels * sampleSize * sampleSize,
    windowSteps: config.sampler.window.size,
    feature: DEFAULT_BACKBONE.dim!,
    patchTokens: DEFAULT_BACKBONE_PATCHES,
    imageSize: config.world.imageSize,
  };
  log("\nrollout log, bytes per rollout (ratios against the first line of each block)");
  for (const [shape, rows] of [[defaults, config.record.batchRows], [SD35_MEDIUM, 4]] as const) {
    log(`  ${shape.name}: latent ${shape.latent} values, window ${shape.windowSteps} steps, tokens ${shape.patchTokens + 1} x ${shape.feature}, image ${shape.imageSize} px`);
    const sizes = benchRolloutLogBytes(shape, rows);
    const base = sizes[0]!.bytesPerRollout;
    // Format 1 stored x and xNext per step: windowSteps - 1 more float32 latents than the chain, tokens always on.
    const formatOne = base + (shape.windowSteps - 1) * shape.latent * 4;
    log(`    ${"format 1 layout (x and xNext per step), derived".padEnd(48)} ${(formatOne / 1024).toFixed(1).padStart(9)} KB  ${(formatOne / base).toFixed(2)}x`);
    for (const s of sizes) log(`    ${s.option.padEnd(48)} ${(s.bytesPerRollout / 1024).toFixed(1).padStart(9)} KB  ${(s.bytesPerRollout / base).toFixed(2)}x`);
  }
  const cost = await benchBatchChecksum(defaults, config.record.batchRows);
  log(`  per-batch checksum (format 3), pipelines/default.yaml, one batch of ${config.record.batchRows} rows, ${(cost.batchBytes / 1024).toFixed(1)} KB:`);
  log(`    bytes   +${cost.addedBytes} per batch, ${(1 + cost.addedBytes / (cost.batchBytes - cost.addedBytes)).toFixed(4)}x the batch without it`);
  log(`    append  ${cost.appendMs.toFixed(3)} ms per batch without it (rows, PNGs, Arrow), checksum +${cost.checksumMs.toFixed(3)} ms: ${((cost.appendMs + cost.checksumMs) / cost.appendMs).toFixed(3)}x`);
  log(`    read    ${cost.readMs.toFixed(3)} ms per batch verified and decoded, of which verifying ${cost.verifyMs.toFixed(3)} ms: ${(cost.readMs / Math.max(cost.readMs - cost.verifyMs, 1e-9)).toFixed(3)}x unverified`);
};
