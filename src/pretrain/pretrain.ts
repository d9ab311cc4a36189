/**
 * Flow-matching pretraining of the embedded generator (velocity network + bag-of-words text encoder) on base-style
 * renders of the world's training prompts: AdamW with warm-up and cosine decay, global grad-norm clipping, an EMA
 * of the weights (what is exported), progress on stderr, and checkpoints that resume bit for bit.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { defaultDiTConfig, type DiTConfig } from "../models/generator/dit.ts";
import { flowMatchingModel } from "../models/generator/network.ts";
import { loadGeneratorWeights, saveGeneratorWeights } from "../models/generator/weights.ts";
import { initParams } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { Ema } from "../optim/ema.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import { copyParamsInto, type ParamSet } from "../optim/param-set.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { compileTrainStep, runTrainStep } from "../train/train-graph.ts";
import { makeRng, restoreRng, type Rng } from "../util/prng.ts";
import { CheckpointError, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { sampleBatch } from "./data.ts";
import { formatProgress } from "./progress.ts";
import type { ReferenceStyle } from "../world/render.ts";

export interface PretrainOptions {
  readonly steps: number;
  readonly batch: number;
  /** Peak learning rate, reached after the warm-up and decayed by a cosine to `minLrFraction` of it. */
  readonly lr: number;
  readonly seed: number;
  /** Directory for `checkpoint.safetensors` and the final `generator.safetensors`. */
  readonly out: string;
  readonly checkpointEvery: number;
  /** Continue from `<out>/checkpoint.safetensors`; the run's settings must be the same. */
  readonly resume: boolean;
  /** Stop (with a checkpoint) once this many steps are done in total, e.g. to split a run; the schedule still spans `steps`. */
  readonly stopAt?: number;
  readonly model?: DiTConfig;
  /** Start from these generator weights (a `generator.safetensors`) instead of a random init: a further training phase. */
  readonly initFrom?: string;
  /** Default min(200, steps / 10). */
  readonly warmupSteps?: number;
  /** Default 0.1. */
  readonly minLrFraction?: number;
  /** AdamW decoupled weight decay, default 0.01. */
  readonly weightDecay?: number;
  /** Default 1. */
  readonly maxGradNorm?: number;
  /** EMA decay cap (the decay warms up as (1+k)/(10+k)), averaged every step; default 0.999. */
  readonly emaDecay?: number;
  /** Default 0.1: one prompt in ten is trained as the empty prompt, for classifier-free guidance. */
  readonly promptDropout?: number;
  /** Share of images rendered in each reference style, unprompted (see data.ts); default none. */
  readonly styleMix?: Readonly<Partial<Record<ReferenceStyle, number>>>;
  /** Progress line every this many steps (default 50). */
  readonly logEvery?: number;
  /** Where progress lines go; default stderr. */
  readonly log?: (line: string) => void;
  /** Hears the step count after each step (and once at the start, past 0 on a resume), for a progress bar. */
  readonly stepsDone?: (done: number, total: number) => void;
  readonly execution?: ExecutionConfig;
}

interface PretrainResult {
  /** Steps completed in total (including those before a resume). */
  readonly step: number;
  /** Loss of every step this call ran. */
  readonly losses: readonly number[];
  readonly params: ParamSet;
  readonly ema: ParamSet;
  readonly seconds: number;
}

const CHECKPOINT_FILE = "checkpoint.safetensors";
export const WEIGHTS_FILE = "generator.safetensors";

/** Linear warm-up to `lr`, then a half cosine down to `lr * minFraction` at the last step. */
export const learningRateAt = (step: number, steps: number, lr: number, warmup: number, minFraction: number): number => {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const progress = (step - warmup) / Math.max(1, steps - warmup);
  return lr * (minFraction + (1 - minFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
};

const resolved = (o: PretrainOptions) => ({
  model: o.model ?? defaultDiTConfig,
  steps: o.steps,
  batch: o.batch,
  lr: o.lr,
  seed: o.seed,
  warmupSteps: o.warmupSteps ?? Math.min(200, Math.floor(o.steps / 10)),
  minLrFraction: o.minLrFraction ?? 0.1,
  weightDecay: o.weightDecay ?? 0.01,
  maxGradNorm: o.maxGradNorm ?? 1,
  emaDecay: o.emaDecay ?? 0.999,
  promptDropout: o.promptDropout ?? 0.1,
  initFrom: o.initFrom ?? null,
  ...(o.styleMix && Object.keys(o.styleMix).length > 0 ? { styleMix: o.styleMix } : {}),
});

type Settings = ReturnType<typeof resolved>;

/** The weights training starts from: the graph's init, or `initFrom`'s weights for the same architecture. */
const startingParams = async (settings: Settings, specs: Parameters<typeof initParams>[0]): Promise<ParamSet> => {
  const params = initParams(specs, settings.seed);
  if (settings.initFrom !== null) {
    const start = await loadGeneratorWeights(settings.initFrom);
    if (JSON.stringify(start.config) !== JSON.stringify(settings.model)) {
      throw new CheckpointError({ file: settings.initFrom, field: "model config", expected: JSON.stringify(settings.model), found: JSON.stringify(start.config) });
    }
    copyParamsInto(params, start.params, `initial weights ${settings.initFrom}`);
  }
  return params;
};

/** Restores weights, optimiser, EMA and data stream from the checkpoint of a run with the same settings; the step it reached. */
const resumeFrom = async (file: string, settingsJson: string, state: { params: ParamSet; optimizer: Optimizer; ema: Ema; rng: { current: Rng } }): Promise<number> => {
  if (!existsSync(file)) throw new CheckpointError({ file, field: "file", expected: "a checkpoint to resume from", found: "no such file" });
  const checkpoint = await loadCheckpoint(file);
  if (checkpoint.settings !== settingsJson) {
    throw new CheckpointError({ file, field: "settings (resume needs the same run settings)", expected: settingsJson, found: checkpoint.settings });
  }
  copyParamsInto(state.params, checkpoint.params, `checkpoint ${file}`);
  state.optimizer.importState(checkpoint.optimizer);
  state.ema.importState(checkpoint.ema);
  state.rng.current = restoreRng(checkpoint.rng);
  return checkpoint.step;
};

/** The EMA weights as the generator file, with what made them in its metadata. */
const saveFinalWeights = (file: string, settings: Settings, settingsJson: string, step: number, losses: readonly number[], weights: ParamSet): Promise<void> => {
  const finalWindow = losses.slice(-Math.min(200, losses.length));
  return saveGeneratorWeights(file, {
    config: settings.model,
    params: weights,
    metadata: {
      "advgrpo.generator.steps": String(step),
      "advgrpo.generator.seed": String(settings.seed),
      "advgrpo.generator.final_loss": finalWindow.length > 0 ? (finalWindow.reduce((a, b) => a + b, 0) / finalWindow.length).toFixed(5) : "n/a",
      "advgrpo.generator.settings": settingsJson,
    },
  });
};

export const pretrain = async (options: PretrainOptions): Promise<PretrainResult> => {
  const settings = resolved(options);
  const settingsJson = JSON.stringify(settings);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const logEvery = options.logEvery ?? 50;
  const checkpointFile = join(options.out, CHECKPOINT_FILE);
  await mkdir(options.out, { recursive: true });

  const graph = compileTrainStep("generator-pretrain", flowMatchingModel(settings.model, settings.batch));
  const params = await startingParams(settings, graph.params);
  const optimizer = adamW(params, { lr: settings.lr, weightDecay: settings.weightDecay });
  const ema = new Ema(params, { maxDecay: settings.emaDecay, every: 1 });
  const rng = { current: makeRng(settings.seed).fork("pretrain-data") };
  let step = 0;
  if (options.resume) {
    step = await resumeFrom(checkpointFile, settingsJson, { params, optimizer, ema, rng });
    log(`resumed from ${checkpointFile} at step ${step}`);
  }

  const session = await LocalSession.create(graph.name, graph.bytes, options.execution);
  const losses: number[] = [];
  const started = performance.now();
  let windowStart = started;
  let windowLoss = 0;
  const last = Math.min(settings.steps, options.stopAt ?? settings.steps);
  options.stepsDone?.(step, settings.steps);
  try {
    for (; step < last; ) {
      optimizer.learningRate = learningRateAt(step, settings.steps, settings.lr, settings.warmupSteps, settings.minLrFraction);
      const feeds = sampleBatch(rng.current, { batch: settings.batch, size: settings.model.size, promptDropout: settings.promptDropout, styleMix: settings.styleMix ?? {} });
      const { loss, grads } = await runTrainStep(session, graph, params, feeds);
      const gradNorm = clipGradNorm(grads, settings.maxGradNorm);
      optimizer.step(grads);
      ema.update(params, optimizer.stepCount);
      losses.push(loss);
      windowLoss += loss;
      step++;
      options.stepsDone?.(step, settings.steps);
      if (step % options.checkpointEvery === 0 || step === last) {
        await saveCheckpoint(checkpointFile, { step, params, ema: ema.weights, optimizer: optimizer.exportState(), rng: rng.current.state(), settings: settingsJson });
      }
      const windowSteps = step % logEvery === 0 ? logEvery : step === last ? ((step - 1) % logEvery) + 1 : 0;
      if (windowSteps > 0) {
        const now = performance.now();
        log(formatProgress({ step, steps: settings.steps, loss: windowLoss / windowSteps, gradNorm, lr: optimizer.learningRate, seconds: (now - windowStart) / 1000, windowSteps }));
        windowStart = now;
        windowLoss = 0;
      }
    }
  } finally {
    await session.release();
  }
  const seconds = (performance.now() - started) / 1000;
  await saveFinalWeights(join(options.out, WEIGHTS_FILE), settings, settingsJson, step, losses, ema.weights);
  return { step, losses, params, ema: ema.weights, seconds };
};
