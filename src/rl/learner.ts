/**
 * The generator learner, one optimiser step at a time: an objective's plan turns each sampler batch into
 * micro-batch feeds (GRPO: one per recorded SDE-window step; nft and awm: one per drawn training time), each cut
 * into slices of as many members as the loss graph is compiled for (learner.microBatch), the loss graph's
 * gradients are averaged over them, the global norm is clipped, AdamW steps in place and the EMA
 * follows. Objectives that compare with the policy that sampled (nft's v_old, GRPO-Guard's mu_old) get that
 * policy's weights under `old.`: a snapshot taken when an epoch's first, on-policy step begins.
 */
import type { Ema } from "../optim/ema.ts";
import { clipGradNorm } from "../optim/grad-norm.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { type ParamSet, zerosLike } from "../optim/param-set.ts";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { gradName, type GraphRunner, runTrainStep, type TrainStepOutline } from "../train/train-graph.ts";
import { sliceFeeds } from "./micro-batches.ts";
import { POLICY_INPUTS, type PolicyConfig, type TextEmbeddings, textFeeds } from "./policy-graph.ts";

/** One sampler batch as the learner replays it: the rollouts in sampling order and their text embeddings. */
interface LearnerBatch extends TextEmbeddings {
  readonly rollouts: readonly AdvantagedRollout[];
}

/** An objective's micro-batches of one sampler batch at optimiser step `optimiserStep`. */
export type MicroBatchPlan = (batch: LearnerBatch, optimiserStep: number) => Feeds[];

interface LearnerOptions {
  readonly maxGradNorm: number;
  /** Members per loss-graph run, the batch its data inputs are compiled for (learner.microBatch); default the plan's whole batch. */
  readonly microBatch?: number;
}

/**
 * Diagnostics of one optimiser step: every scalar output of the objective's loss graph (grpo: ratioMean,
 * ratioMin, ratioMax, clipFracHigh, clipFracLow, approxKl; nft: positiveLoss, negativeLoss, oldDeviation;
 * awm: matchingLoss; kl and policyLoss with klBeta > 0), averaged over the micro-batches (ratioMin and
 * ratioMax: the extremes), plus the step's own figures. grpo's per-micro-batch ratioVariance is pooled into
 * ratioStd, the ratio's spread over the whole step (verl-omni logs ratio mean and std per step; at
 * learner.maxPolicyLag >= 1 it shows how far the sampling policy has drifted).
 */
export type GeneratorStepStats = Readonly<Record<string, number>> & {
  readonly loss: number;
  readonly gradNorm: number;
  readonly microBatches: number;
  readonly transitions: number;
};

const extremes: Readonly<Record<string, (a: number, b: number) => number>> = { ratioMin: Math.min, ratioMax: Math.max };

const average = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The std of the ratio over a step from each micro-batch's mean and (centred) variance, micro-batches weighted
 * alike as in ratioMean: within-micro-batch variance plus the spread of the micro-batch means.
 */
const pooledRatioStd = (means: readonly number[], variances: readonly number[]): number => {
  const m = average(means);
  return Math.sqrt(average(variances) + average(means.map((x) => (x - m) ** 2)));
};

/** Where a generator's clean sample x0 is read: a pixel-space generator's image, or a latent generator's kept final latent. */
export type CleanSource = "image" | "latent";

/** The rollouts' clean samples x0 [B*C*H*W]: the final latent as sampled, or the 8-bit image mapped back to [-1, 1]. */
export const cleanSamples = (rollouts: readonly AdvantagedRollout[], latentSize: number, source: CleanSource): Float32Array => {
  const out = new Float32Array(rollouts.length * latentSize);
  rollouts.forEach((r, i) => {
    const where = `rollout epoch ${r.epoch} group ${r.groupId} member ${r.member}`;
    if (source === "latent") {
      if (r.clean?.length !== latentSize) throw new Error(`${where}: the generator's final latent of ${latentSize} values was not kept (found ${r.clean ? `${r.clean.length} values` : "none"})`);
      out.set(r.clean, i * latentSize);
      return;
    }
    if (r.image.length !== latentSize) throw new Error(`${where}: image of ${r.image.length} values, the generator's latent has ${latentSize}`);
    for (let k = 0; k < latentSize; k++) out[i * latentSize + k] = 2 * r.image[k]! - 1;
  });
  return out;
};

/** Feeds of window step `j` of a batch: every sample's recorded transition at that step. */
const transitionFeeds = (batch: LearnerBatch, j: number, latentShape: readonly number[], text: Feeds): Feeds => {
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

/** GRPO's plan: every recorded window step is one micro-batch. */
export const windowPlan =
  (policy: PolicyConfig): MicroBatchPlan =>
  (batch) => {
    const text = textFeeds(policy, batch);
    return Array.from({ length: batch.rollouts[0]!.steps.length }, (_, j) => transitionFeeds(batch, j, policy.net.latentShape, text));
  };

/** The weights that sample (`live`) and their copy under `old.` the loss graph reads as the sampling policy. */
interface SamplingPolicyCopy {
  readonly live: ParamSet;
  readonly old: ParamSet;
}

export class GeneratorLearner {
  readonly graph: TrainStepOutline;
  readonly params: ParamSet;
  readonly optimizer: Optimizer;
  readonly ema: Ema | undefined;
  private readonly runner: GraphRunner;
  private readonly options: LearnerOptions;
  private readonly plan: MicroBatchPlan;
  private readonly samplingPolicy: SamplingPolicyCopy | undefined;
  /** The policy version whose weights `samplingPolicy.old` holds. */
  private oldVersion: number | undefined;

  constructor(args: {
    graph: TrainStepOutline;
    runner: GraphRunner;
    params: ParamSet;
    optimizer: Optimizer;
    ema?: Ema;
    plan: MicroBatchPlan;
    samplingPolicy?: SamplingPolicyCopy;
    options: LearnerOptions;
  }) {
    this.graph = args.graph;
    this.runner = args.runner;
    this.params = args.params;
    this.optimizer = args.optimizer;
    this.ema = args.ema;
    this.plan = args.plan;
    this.samplingPolicy = args.samplingPolicy;
    this.options = args.options;
  }

  /** Holds the weights that sampled `group` under `old.`; they are the live weights at the epoch's first step. */
  private holdSamplingPolicy(group: readonly LearnerBatch[]): void {
    if (!this.samplingPolicy) return;
    const versions = new Set(group.flatMap((b) => b.rollouts.map((r) => r.policyVersion)));
    if (versions.size !== 1) throw new Error(`learner: one step mixes rollouts of policy versions ${[...versions].join(", ")}; the sampling policy must be one`);
    const [version] = versions;
    if (version === this.optimizer.stepCount) {
      this.samplingPolicy.live.forEach((p, i) => this.samplingPolicy!.old[i]!.data.set(p.data));
      this.oldVersion = version;
    } else if (version !== this.oldVersion) {
      throw new Error(
        `learner: the rollouts were sampled by policy version ${version}, but the learner holds the weights of version ${this.oldVersion ?? "none"} (at step ${this.optimizer.stepCount}); an epoch must be learnt from its first step on`,
      );
    }
  }

  /** One optimiser step from the gradients of every micro-batch of every batch, averaged. */
  async step(group: readonly LearnerBatch[]): Promise<GeneratorStepStats> {
    this.holdSamplingPolicy(group);
    const optimiserStep = this.optimizer.stepCount;
    const accumulated = zerosLike(this.optimizer.params);
    const sums = new Map<string, number>();
    const ratioMeans: number[] = [];
    const ratioVariances: number[] = [];
    let micro = 0;
    let transitions = 0;
    for (const batch of group) {
      const feedsOfBatch = this.plan(batch, optimiserStep);
      const { microBatch } = this.options;
      for (const feeds of microBatch === undefined ? feedsOfBatch : feedsOfBatch.flatMap((f) => sliceFeeds(f, microBatch))) {
        const result = await runTrainStep(this.runner, this.graph, this.params, feeds);
        const byName = new Map(result.grads.map((g) => [g.name, g.data]));
        for (const acc of accumulated) {
          const g = byName.get(acc.name)!;
          for (let i = 0; i < g.length; i++) acc.data[i]! += g[i]!;
        }
        for (const [key, value] of Object.entries(result.outputs)) {
          if (key.startsWith(gradName("")) || key === "logProb" || value.data.length !== 1) continue;
          const x = Number(value.data[0]);
          if (key === "ratioMean") ratioMeans.push(x);
          if (key === "ratioVariance") {
            ratioVariances.push(x);
            continue;
          }
          const combine = extremes[key];
          sums.set(key, sums.has(key) ? (combine ? combine(sums.get(key)!, x) : sums.get(key)! + x) : x);
        }
        micro++;
        transitions += microBatch ?? batch.rollouts.length;
      }
    }
    if (micro === 0) throw new Error("learner: the step has no micro-batches (no window steps recorded, or no training times)");
    // The loss is a mean per micro-batch, all of one size; averaging the gradients makes the step the gradient of the mean loss.
    for (const acc of accumulated) for (let i = 0; i < acc.data.length; i++) acc.data[i]! /= micro;
    const gradNorm = clipGradNorm(accumulated, this.options.maxGradNorm);
    this.optimizer.step(accumulated);
    this.ema?.update(this.params, this.optimizer.stepCount - 1);
    const diagnostics = Object.fromEntries([...sums].map(([key, value]) => [key, extremes[key] ? value : value / micro]));
    const ratioStd: Record<string, number> = ratioVariances.length ? { ratioStd: pooledRatioStd(ratioMeans, ratioVariances) } : {};
    return { ...diagnostics, ...ratioStd, loss: diagnostics.loss!, gradNorm, microBatches: micro, transitions };
  }
}
