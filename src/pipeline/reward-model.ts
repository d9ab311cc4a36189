/**
 * The reward side of the loop: frozen backbone features, the adversarial discriminator (and a frozen one for
 * the fixed-reward baseline), the configured reward components, and the discriminator's hinge step on
 * references (positives) against the policy's samples (negatives). Patch indices are drawn from seeds derived
 * from (run seed, epoch, group), so replay draws the same patches.
 */
import { OnnxImportError } from "../graph/errors.ts";
import type { RgbImage } from "../io/png.ts";
import { DEFAULT_BACKBONE, DEFAULT_BACKBONE_ONNX } from "../models/backbone/default.ts";
import { type FeatureLayout, FeatureExtractor, type Features } from "../models/backbone/features.ts";
import { Discriminator, type ScoredTokens, type StepMetrics } from "../models/discriminator/discriminator.ts";
import { DEFAULT_HEAD, samplePatchIndices, type HeadConfig } from "../models/discriminator/head.ts";
import { loadFrozenHead } from "./frozen-head.ts";
import { adversarialDinoReward, frozenDiscriminatorReward } from "../rewards/discriminator-reward.ts";
import { scoreWeighted, type RewardScores, type WeightedComponent } from "../rewards/reward.ts";
import { ocrReward } from "../rewards/ocr.ts";
import { PpOcr } from "../rewards/pp-ocr.ts";
import { dinoSimilarityReward } from "../rewards/similarity.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { makeRng } from "../util/prng.ts";
import type { PipelineConfig } from "./config/schema.ts";
import type { ReferenceLibrary } from "./references.ts";

export const loadBackbone = async (config: PipelineConfig, execution: ExecutionConfig): Promise<FeatureExtractor> => {
  const f = config.features;
  if (f.backbone === "embedded") return FeatureExtractor.open(DEFAULT_BACKBONE_ONNX, DEFAULT_BACKBONE, execution);
  try {
    return await FeatureExtractor.open(f.backbone, { size: f.inputSize, patchSize: 14, registers: f.registerTokens, pooling: "cls" }, execution);
  } catch (error) {
    if (error instanceof OnnxImportError) throw new OnnxImportError({ source: `${error.source} (features.backbone)`, reason: error.reason });
    throw error;
  }
};

const headConfig = (config: PipelineConfig, dim: number): HeadConfig => {
  const d = config.discriminator;
  return {
    ...DEFAULT_HEAD,
    dim,
    hidden: d.hiddenWidth,
    tokenTransform: config.features.tokenTransform,
    patchesPerImage: d.patches,
    globalWeight: d.lossWeights.global,
    localWeight: d.lossWeights.local,
    rewardClsWeight: d.rewardWeights.cls,
    rewardPatchWeight: d.rewardWeights.patches,
  };
};

/** Seeds patch draws by what identifies a batch, never by call order. */
const patchIndicesFor = (runSeed: number, label: string, batch: number, patchCount: number, perImage: number): Int32Array =>
  samplePatchIndices(makeRng(runSeed).fork(`patches/${label}`), batch, patchCount, perImage);

interface ScoredBatch extends RewardScores {
  readonly clsLogits: Float32Array;
  readonly patchLogits: Float32Array;
}

export class RewardModel {
  readonly features: FeatureExtractor;
  readonly discriminator: Discriminator;
  /** The fixed-reward baseline's head: trained during warm-up only, then never again. */
  readonly frozen: Discriminator | undefined;
  readonly components: readonly WeightedComponent[];
  readonly references: ReferenceLibrary;
  private readonly runSeed: number;
  private readonly patchCount: number;
  private readonly perImage: number;
  private readonly owned: readonly { release(): Promise<void> }[];

  constructor(args: {
    features: FeatureExtractor;
    discriminator: Discriminator;
    frozen: Discriminator | undefined;
    components: readonly WeightedComponent[];
    references: ReferenceLibrary;
    runSeed: number;
    patchCount: number;
    perImage: number;
    /** Other sessions the reward components hold (OCR), released with the model. */
    owned: readonly { release(): Promise<void> }[];
  }) {
    this.features = args.features;
    this.discriminator = args.discriminator;
    this.frozen = args.frozen;
    this.components = args.components;
    this.references = args.references;
    this.runSeed = args.runSeed;
    this.patchCount = args.patchCount;
    this.perImage = args.perImage;
    this.owned = args.owned;
  }

  /** The head whose logits are the run's learned reward: the adversarial one, or the frozen baseline's. */
  get rewardHead(): Discriminator {
    return this.components.some((c) => c.component.name === "adversarial-dino") || !this.frozen ? this.discriminator : this.frozen;
  }

  tokens(features: Features, label: string): ScoredTokens {
    return { features, patchIndices: patchIndicesFor(this.runSeed, label, features.batch, this.patchCount, this.perImage) };
  }

  /** Every component's reward and the discriminator logits, for images of the given prompts. */
  async score(images: readonly RgbImage[], prompts: readonly string[], features: Features, label: string): Promise<ScoredBatch> {
    await this.references.prepare(prompts);
    const tokens = this.tokens(features, label);
    // The adversarial reward is these logits' reward: the head runs once per batch.
    const logits = await this.discriminator.score(tokens);
    const scores = await scoreWeighted(this.components, { images, prompts, features, patchIndices: tokens.patchIndices, headScores: new Map([[this.discriminator, logits]]) });
    return { ...scores, clsLogits: logits.cls, patchLogits: logits.patch };
  }

  /** One hinge step of `head`, references against generated features; `label` names both patch draws. */
  stepHead(head: Discriminator, references: Features, generated: Features, label: string): Promise<StepMetrics> {
    return head.step(this.tokens(references, `${label}/references`), this.tokens(generated, `${label}/generated`));
  }

  /** One hinge step of `head` on the references of `prompts` against the generated features. */
  async discriminatorStep(head: Discriminator, prompts: readonly string[], generated: Features, label: string): Promise<StepMetrics> {
    const refs = await Promise.all([...new Set(prompts)].map((p) => this.references.features(p)));
    return this.stepHead(head, concatFeatures(refs), generated, label);
  }

  /** Mean discriminator reward of the references of `prompts` (the reward-hacking yardstick and the trigger mode's). */
  async referenceReward(prompts: readonly string[], label: string): Promise<number> {
    const refs = concatFeatures(await Promise.all([...new Set(prompts)].map((p) => this.references.features(p))));
    const { reward } = await this.rewardHead.score(this.tokens(refs, `${label}/reference-reward`));
    return reward.reduce((a, b) => a + b, 0) / reward.length;
  }

  /** Releases the heads and the components' sessions; the backbone belongs to the composition root. */
  async release(): Promise<void> {
    await Promise.all([this.discriminator.release(), this.frozen?.release(), ...this.owned.map((o) => o.release())]);
  }
}

const concatFeatures = (parts: readonly Features[]): Features => {
  const first = parts[0]!;
  const join = (pick: (f: Features) => Float32Array) => {
    const out = new Float32Array(parts.reduce((n, f) => n + pick(f).length, 0));
    parts.reduce((offset, f) => (out.set(pick(f), offset), offset + pick(f).length), 0);
    return out;
  };
  return { ...first, batch: parts.reduce((n, f) => n + f.batch, 0), cls: join((f) => f.cls), patches: join((f) => f.patches), pooled: join((f) => f.pooled) };
};

/** `layout`: the shapes of `features`' output, which size the heads and the similarity reward. */
export const buildRewardModel = async (config: PipelineConfig, features: FeatureExtractor, layout: FeatureLayout, references: ReferenceLibrary, execution: ExecutionConfig): Promise<RewardModel> => {
  const { patchCount } = layout;
  const head = headConfig(config, layout.dim);
  const optim = { lr: config.discriminator.lr, betas: config.discriminator.betas };
  const discriminator = new Discriminator(head, patchCount, config.run.seed, optim, execution);
  let frozen: Discriminator | undefined;
  const owned: { release(): Promise<void> }[] = [];
  const similarity = () => dinoSimilarityReward({ width: layout.pooledDim, byPrompt: references.pooledByPrompt });
  const components: WeightedComponent[] = [];
  for (const [index, reward] of config.rewards.entries()) {
    switch (reward.kind) {
      case "adversarial-dino":
        components.push({ component: adversarialDinoReward(discriminator), weight: reward.weight });
        break;
      case "frozen-discriminator":
        frozen = new Discriminator(head, patchCount, config.run.seed + 1, optim, execution);
        if (reward.checkpoint !== undefined) await loadFrozenHead(reward.checkpoint, `rewards[${index}].checkpoint`, frozen);
        components.push({ component: frozenDiscriminatorReward(frozen), weight: reward.weight });
        break;
      case "dino-similarity":
        components.push({ component: similarity(), weight: reward.weight });
        break;
      case "ocr": {
        // Prompts must quote the text to render; the shapes world's do not, and scoring says so per prompt.
        const ocr = await PpOcr.create(execution);
        owned.push(ocr);
        components.push({ component: ocrReward({ ocr, lambda: reward.lambda, similarity: similarity() }), weight: reward.weight });
        break;
      }
    }
  }
  return new RewardModel({ features, discriminator, frozen, components, references, runSeed: config.run.seed, patchCount, perImage: config.discriminator.patches, owned });
};
