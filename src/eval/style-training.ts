/**
 * Trains the style classifier on the world's training prompts and measures it on the held-out prompts, one
 * accuracy per kind of image (clean renders per style, each style under each degradation, noise, blanks).
 * Examples come from a fixed pool drawn once from the seed, so a run is reproducible and the renderer's
 * cost is paid once rather than every step.
 */
import { initParams } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import { totalCount, type ParamSet } from "../optim/param-set.ts";
import { learningRateAt } from "../pretrain/pretrain.ts";
import { formatProgress } from "../pretrain/progress.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { compileTrainStep, runTrainStep } from "../train/train-graph.ts";
import { makeRng, type Rng } from "../util/prng.ts";
import { promptsOf } from "../world/prompt.ts";
import type { ShapeAttributes } from "../world/vocabulary.ts";
import { StyleClassifier } from "./style-classifier.ts";
import { describeSource, drawExample, EVALUATION_SOURCES, makeExample, type StyleExample } from "./style-data.ts";
import { defaultStyleNetConfig, STYLE_CLASSES, styleNetTraining, type StyleNetConfig } from "./style-net.ts";

interface StyleTrainingOptions {
  readonly seed: number;
  readonly steps: number;
  readonly batch: number;
  /** Peak AdamW learning rate (warm-up, then cosine decay to a tenth). */
  readonly lr: number;
  /** Examples drawn once from the training prompts and sampled from every step. */
  readonly poolSize: number;
  readonly config?: StyleNetConfig;
  readonly trainPrompts?: readonly ShapeAttributes[];
  /** Progress line every this many steps; default 100. */
  readonly logEvery?: number;
  readonly log?: (line: string) => void;
  readonly execution?: ExecutionConfig;
}

interface StyleTrainingResult {
  readonly config: StyleNetConfig;
  readonly params: ParamSet;
  readonly losses: readonly number[];
  readonly seconds: number;
}

/** One-hot labels and concatenated pixels of the examples at `indices`. */
const batchFeeds = (pool: readonly StyleExample[], indices: readonly number[], size: number) => {
  const pixels = 3 * size * size;
  const images = new Float32Array(indices.length * pixels);
  const labels = new Float32Array(indices.length * STYLE_CLASSES.length);
  indices.forEach((index, row) => {
    const example = pool[index]!;
    images.set(example.image.data, row * pixels);
    labels[row * STYLE_CLASSES.length + STYLE_CLASSES.indexOf(example.label)] = 1;
  });
  return {
    images: { dtype: "float32" as const, shape: [indices.length, 3, size, size], data: images },
    labels: { dtype: "float32" as const, shape: [indices.length, STYLE_CLASSES.length], data: labels },
  };
};

export const trainStyleClassifier = async (options: StyleTrainingOptions): Promise<StyleTrainingResult> => {
  const config = options.config ?? defaultStyleNetConfig;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const logEvery = options.logEvery ?? 100;
  const prompts = options.trainPrompts ?? promptsOf("train");
  const root = makeRng(options.seed);

  const started = performance.now();
  const poolRng = root.fork("pool");
  const pool = Array.from({ length: options.poolSize }, () => drawExample(poolRng, prompts, config.size));
  log(`drew ${pool.length} training examples from ${prompts.length} prompts in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const graph = compileTrainStep("style-classifier-train", styleNetTraining(config, options.batch));
  const session = await LocalSession.create(graph.name, graph.bytes, options.execution);
  const params = initParams(graph.params, options.seed);
  log(`style net: ${totalCount(params)} parameters, channels [${config.channels.join(", ")}], batch ${options.batch}`);
  const optimizer = adamW(params, { lr: options.lr, weightDecay: 1e-4 });
  const warmup = Math.min(100, Math.floor(options.steps / 10));
  const batchRng = root.fork("batches");
  const losses: number[] = [];
  let windowStart = performance.now();
  for (let step = 0; step < options.steps; step++) {
    optimizer.learningRate = learningRateAt(step, options.steps, options.lr, warmup, 0.1);
    const indices = Array.from({ length: options.batch }, () => batchRng.int(pool.length));
    const { loss, grads } = await runTrainStep(session, graph, params, batchFeeds(pool, indices, config.size));
    const gradNorm = clipGradNorm(grads, 1);
    optimizer.step(grads);
    losses.push(loss);
    if ((step + 1) % logEvery === 0 || step + 1 === options.steps) {
      const windowSteps = (step % logEvery) + 1;
      const window = losses.slice(-windowSteps);
      const now = performance.now();
      log(formatProgress({ step: step + 1, steps: options.steps, loss: window.reduce((a, b) => a + b, 0) / window.length, gradNorm, lr: optimizer.learningRate, seconds: (now - windowStart) / 1000, windowSteps }));
      windowStart = now;
    }
  }
  await session.release();
  return { config, params, losses, seconds: (performance.now() - started) / 1000 };
};

/** Fraction of one kind of image the classifier labels correctly ("other" for anything not a clean reference render). */
export interface SourceAccuracy {
  readonly source: string;
  readonly expected: string;
  readonly correct: number;
  readonly total: number;
}

/** Scores `perSource` fresh images of every EVALUATION_SOURCES kind, cycling over `prompts` (default held-out). */
export const evaluateOnSources = async (
  classifier: StyleClassifier,
  rng: Rng,
  perSource: number,
  prompts: readonly ShapeAttributes[] = promptsOf("heldout"),
): Promise<SourceAccuracy[]> => {
  const results: SourceAccuracy[] = [];
  for (const source of EVALUATION_SOURCES) {
    const sourceRng = rng.fork(describeSource(source));
    const examples = Array.from({ length: perSource }, (_, i) => makeExample(source, prompts[i % prompts.length]!, sourceRng, classifier.config.size));
    const verdicts = await classifier.classify(examples.map((e) => e.image));
    const correct = verdicts.filter((v, i) => v.label === examples[i]!.label).length;
    results.push({ source: describeSource(source), expected: examples[0]!.label, correct, total: perSource });
  }
  return results;
};
