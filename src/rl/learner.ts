/**
 * The GRPO learner: recomputes the log-prob of every recorded SDE-window transition with the policy graph,
 * accumulates the clipped-surrogate gradients over the sampler batches of one optimiser step (the caller
 * splits an epoch into `learner.stepsPerEpoch` of them; the first is exactly on-policy), clips the global
 * gradient norm, steps AdamW in place and keeps the EMA.
 */
import type { Ema } from "../optim/ema.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { type ParamSet, zerosLike } from "../optim/param-set.ts";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { type CompiledTrainGraph, type GraphRunner, runTrainStep } from "../train/train-graph.ts";
import { POLICY_INPUTS, type PolicyConfig, type TextEmbeddings, textFeeds } from "./policy-graph.ts";

/** One sampler batch as the learner replays it: the rollouts in sampling order and their text embeddings. */
export interface LearnerBatch extends TextEmbeddings {
  readonly rollouts: readonly AdvantagedRollout[];
}

export interface LearnerOptions {
  readonly maxGradNorm: number;
}

/** Diagnostics of one optimiser step (algorithm.md section 5), averaged over its micro-batches where they are means. */
export interface GeneratorStepStats {
  readonly loss: number;
  readonly ratioMean: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  readonly clipFracHigh: number;
  readonly clipFracLow: number;
  readonly approxKl: number;
  readonly gradNorm: number;
  readonly microBatches: number;
  readonly transitions: number;
}

const DIAGNOSTICS = ["loss", "ratioMean", "ratioMin", "ratioMax", "clipFracHigh", "clipFracLow", "approxKl"] as const;

/** Feeds of window step `j` of a batch: every sample's recorded transition at that step. */
export const transitionFeeds = (batch: LearnerBatch, j: number, latentShape: readonly number[], text: Feeds): Feeds => {
  const b = batch.rollouts.length;
  const size = latentShape.reduce((x, y) => x * y, 1);
  const x = new Float32Array(b * size);
  const xNext = new Float32Array(b * size);
  const column = (pick: (r: AdvantagedRollout) => number) => Float32Array.from(batch.rollouts, pick);
  batch.rollouts.forEach((r, i) => {
    const step = r.steps[j]!;
    x.set(step.x, i * size);
    xNext.set(step.xNext, i * size);
  });
  return {
    ...text,
    [POLICY_INPUTS.latents]: f32([b, ...latentShape], x),
    [POLICY_INPUTS.latentsNext]: f32([b, ...latentShape], xNext),
    [POLICY_INPUTS.sigma]: f32([b], column((r) => r.steps[j]!.sigma)),
    [POLICY_INPUTS.sigmaNext]: f32([b], column((r) => r.steps[j]!.sigmaNext)),
    [POLICY_INPUTS.logProbOld]: f32([b], column((r) => r.steps[j]!.logProb)),
    [POLICY_INPUTS.advantages]: f32([b], column((r) => r.advantage)),
  };
};

export class GeneratorLearner {
  readonly graph: CompiledTrainGraph;
  readonly params: ParamSet;
  readonly optimizer: Optimizer;
  readonly ema: Ema | undefined;
  private readonly runner: GraphRunner;
  private readonly options: LearnerOptions;
  private readonly policy: PolicyConfig;

  constructor(args: {
    graph: CompiledTrainGraph;
    runner: GraphRunner;
    params: ParamSet;
    optimizer: Optimizer;
    ema?: Ema;
    /** The policy the loss graph was built for: its latent shape and text inputs. */
    policy: PolicyConfig;
    options: LearnerOptions;
  }) {
    this.graph = args.graph;
    this.runner = args.runner;
    this.params = args.params;
    this.optimizer = args.optimizer;
    this.ema = args.ema;
    this.policy = args.policy;
    this.options = args.options;
  }

  /** One optimiser step from the gradients of every window step of every batch, averaged. */
  async step(group: readonly LearnerBatch[]): Promise<GeneratorStepStats> {
    const accumulated = zerosLike(this.optimizer.params);
    const sums = Object.fromEntries(DIAGNOSTICS.map((k) => [k, 0])) as Record<(typeof DIAGNOSTICS)[number], number>;
    let ratioMin = Infinity;
    let ratioMax = -Infinity;
    let micro = 0;
    let transitions = 0;
    for (const batch of group) {
      const windowSteps = batch.rollouts[0]!.steps.length;
      const text = textFeeds(this.policy, batch);
      for (let j = 0; j < windowSteps; j++) {
        const result = await runTrainStep(this.runner, this.graph, this.params, transitionFeeds(batch, j, this.policy.net.latentShape, text));
        const byName = new Map(result.grads.map((g) => [g.name, g.data]));
        for (const acc of accumulated) {
          const g = byName.get(acc.name)!;
          for (let i = 0; i < g.length; i++) acc.data[i]! += g[i]!;
        }
        for (const key of DIAGNOSTICS) sums[key] += Number(result.outputs[key]!.data[0]);
        ratioMin = Math.min(ratioMin, Number(result.outputs.ratioMin!.data[0]));
        ratioMax = Math.max(ratioMax, Number(result.outputs.ratioMax!.data[0]));
        micro++;
        transitions += batch.rollouts.length;
      }
    }
    // The loss is a mean per micro-batch; averaging the gradients makes the step the gradient of the mean loss.
    for (const acc of accumulated) for (let i = 0; i < acc.data.length; i++) acc.data[i]! /= micro;
    const gradNorm = clipGradNorm(accumulated, this.options.maxGradNorm);
    this.optimizer.step(accumulated);
    this.ema?.update(this.params, this.optimizer.stepCount - 1);
    const mean = (key: (typeof DIAGNOSTICS)[number]) => sums[key] / micro;
    return {
      loss: mean("loss"),
      ratioMean: mean("ratioMean"),
      ratioMin,
      ratioMax,
      clipFracHigh: mean("clipFracHigh"),
      clipFracLow: mean("clipFracLow"),
      approxKl: mean("approxKl"),
      gradNorm,
      microBatches: micro,
      transitions,
    };
  }
}
