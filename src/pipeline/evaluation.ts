/**
 * Evaluation of the current policy on held-out prompts: ODE samples from the EMA (or live) weights, scored for
 * alignment, style (the project's own classifier, which reads damage as "other"), aligned-and-styled, DINO
 * similarity and diversity, plus the discriminator's reward of samples and references side by side, the
 * reward-hacking monitor's inputs. Every evaluation also writes an image grid.
 *
 * A user's held-out prompts (a prompt file) have no analyser or style classifier: they get DINO similarity,
 * diversity and the two rewards, alignment and style figures are NaN. Their references are the training
 * references of training prompt (p mod count), a fixed choice so a resumed run evaluates the same.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { dinoSimilarity, evaluateSamples, groupDiversity, type SimilarityFeatures } from "../eval/metrics.ts";
import { StyleClassifier } from "../eval/style-classifier.ts";
import type { RgbImage } from "../io/png.ts";
import type { Features } from "../models/backbone/features.ts";
import { defaultReferenceSet } from "../io/reference-set.ts";
import type { ParamSet } from "../optim/param-set.ts";
import { gridPng } from "../report/grid.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { parsePrompt } from "../world/prompt.ts";
import type { PipelineConfig } from "./config/schema.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";
import { heldOutPrompts, trainingPrompts } from "./prompts.ts";

export const STYLE_CLASSIFIER = fileURLToPath(new URL("../../weights/style-classifier/style-classifier.safetensors", import.meta.url));

type EvaluationMetrics = Readonly<Record<string, number>>;

/** Rows of the grid: at most this many prompts, each with its seeds and one reference image. */
const GRID_PROMPTS = 8;

export class Evaluator {
  private readonly config: PipelineConfig;
  private readonly policy: Policy;
  private readonly rewards: RewardModel;
  /** Absent for a user's prompts, which the shapes world's classifier cannot judge. */
  private readonly classifier: StyleClassifier | undefined;
  private readonly prompts: readonly string[];
  private readonly references: ReadonlyMap<string, readonly RgbImage[]>;
  private readonly gridDir: string;
  private referenceCache: Promise<{ perPrompt: Features[]; firstOfEach: Features }> | undefined;

  private constructor(config: PipelineConfig, policy: Policy, rewards: RewardModel, classifier: StyleClassifier | undefined, gridDir: string) {
    this.config = config;
    this.policy = policy;
    this.rewards = rewards;
    this.classifier = classifier;
    this.gridDir = gridDir;
    this.prompts = heldOutPrompts(config);
    if (config.prompts.heldOut === "embedded") {
      this.references = defaultReferenceSet({ split: "heldout", style: config.world.referenceStyle, perPrompt: config.references.perPrompt, seed: config.run.seed, size: config.world.imageSize }).images;
    } else {
      const train = trainingPrompts(config);
      this.references = new Map(this.prompts.map((prompt, p) => [prompt, rewards.references.images(train[p % train.length]!)]));
    }
  }

  static async create(config: PipelineConfig, policy: Policy, rewards: RewardModel, runDir: string, execution: ExecutionConfig): Promise<Evaluator> {
    const gridDir = join(runDir, "grids");
    mkdirSync(gridDir, { recursive: true });
    const classifier = config.prompts.heldOut === "embedded" ? await StyleClassifier.load(STYLE_CLASSIFIER, { execution }) : undefined;
    return new Evaluator(config, policy, rewards, classifier, gridDir);
  }

  /** The frozen backbone's features of the held-out references never change: extracted once per run. */
  private referenceFeatures(): Promise<{ perPrompt: Features[]; firstOfEach: Features }> {
    this.referenceCache ??= (async () => ({
      perPrompt: await Promise.all(this.prompts.map((prompt) => this.rewards.features.extract(this.references.get(prompt)!))),
      firstOfEach: await this.rewards.features.extract(this.prompts.flatMap((p) => this.references.get(p)!.slice(0, 1))),
    }))();
    return this.referenceCache;
  }

  /** The weights evaluated: the EMA when configured, else the live weights. */
  private weights(): ParamSet {
    return this.config.eval.useEma && this.policy.ema ? this.policy.ema.weights : this.policy.params;
  }

  /** Held-out prompts sampled per evaluation. */
  get promptCount(): number {
    return this.prompts.length;
  }

  /**
   * Evaluates after `epochsTrained` epochs (0 = the starting model); the grid and patch draws are named by it.
   * `promptsDone` hears how many prompts are sampled so far (the slow part), for a progress bar.
   */
  async evaluate(epochsTrained: number, promptsDone?: (done: number) => void): Promise<EvaluationMetrics> {
    const epoch = epochsTrained;
    const groupImages = await this.sampleHeldOut(epoch, promptsDone);
    const samples = groupImages.flatMap((images, group) => images.map((image) => ({ image, group })));
    const features = await this.rewards.features.extract(samples.map((s) => s.image));
    const pooledDim = features.pooledDim;
    const { perPrompt: referenceFeatures, firstOfEach: referenceAll } = await this.referenceFeatures();
    const similarity: SimilarityFeatures = {
      generated: samples.map((_, i) => features.pooled.slice(i * pooledDim, (i + 1) * pooledDim)),
      references: samples.map((s) => {
        const refs = referenceFeatures[s.group]!;
        return Array.from({ length: refs.batch }, (_, r) => refs.pooled.slice(r * pooledDim, (r + 1) * pooledDim));
      }),
    };
    const generatedReward = mean((await this.rewards.rewardHead.score(this.rewards.tokens(features, `eval/${epoch}/generated`))).reward);
    const referenceReward = mean((await this.rewards.rewardHead.score(this.rewards.tokens(referenceAll, `eval/${epoch}/references`))).reward);
    this.writeGrid(epoch, groupImages);
    if (!this.classifier) {
      return {
        alignment: Number.NaN,
        alignedAndStyled: Number.NaN,
        styleScore: Number.NaN,
        styledRate: Number.NaN,
        dinoSimilarity: mean(similarity.generated.map((g, i) => dinoSimilarity(g, similarity.references[i]!))),
        diversity: groupDiversity(samples) ?? Number.NaN,
        generatedReward,
        referenceReward,
      };
    }
    const evaluation = await evaluateSamples(
      this.classifier,
      samples.map((s) => ({ ...s, attributes: parsePrompt(this.prompts[s.group]!) })),
      this.config.world.referenceStyle,
      similarity,
    );
    const s = evaluation.summary;
    return {
      alignment: s.alignment,
      alignedAndStyled: s.alignedAndStyled,
      styleScore: s.styleScore,
      styledRate: s.styledRate,
      dinoSimilarity: s.dinoSimilarity ?? Number.NaN,
      diversity: s.diversity ?? Number.NaN,
      generatedReward,
      referenceReward,
      ...Object.fromEntries(Object.entries(s.attributeMatch).map(([k, v]) => [`match.${k}`, v])),
    };
  }

  /** Each held-out prompt's ODE samples, one per eval seed, prompt after prompt. */
  private async sampleHeldOut(epoch: number, promptsDone?: (done: number) => void): Promise<RgbImage[][]> {
    const groups: RgbImage[][] = [];
    for (const [p, prompt] of this.prompts.entries()) {
      const keys = this.config.eval.seeds.map((seed, member) => ({ runId: "eval", epoch, policyVersion: 0, prompt, promptIndex: p, groupId: p, member, seed }));
      const rollouts = await this.policy.evaluationSampler.sample(keys, await this.policy.embed(keys.map((k) => k.prompt)), this.weights());
      groups.push(rollouts.map((r) => ({ data: r.image, height: r.imageHeight, width: r.imageWidth })));
      promptsDone?.(p + 1);
    }
    return groups;
  }

  /** grids/after-NNNN-epochs.png (gridFileName): one row per prompt, its seeds' samples, then a reference image. */
  private writeGrid(epoch: number, groups: readonly RgbImage[][]): void {
    const rows = groups.slice(0, GRID_PROMPTS).map((images, p) => [...images, this.references.get(this.prompts[p]!)![0]!]);
    writeFileSync(join(this.gridDir, gridFileName(epoch)), gridPng(rows, { scale: 3, gap: 2 }));
  }

  release(): Promise<void> {
    return this.classifier?.release() ?? Promise.resolve();
  }
}

const gridFileName = (epochsTrained: number): string => `after-${String(epochsTrained).padStart(4, "0")}-epochs.png`;

const mean = (values: ArrayLike<number>): number => Array.from(values).reduce((a, b) => a + b, 0) / values.length;
