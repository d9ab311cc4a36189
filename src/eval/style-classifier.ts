/**
 * The trained style classifier: its weights file (safetensors, architecture as metadata, so the file alone
 * rebuilds the net) and a `StyleClassifier` that scores batches of images through an ORT session.
 */
import { Schema } from "effect";
import type { RgbImage } from "../io/png.ts";
import { loadConfiguredWeights, saveConfiguredWeights, type ConfiguredWeights } from "../models/configured-weights.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { compileForward, paramFeeds, type CompiledGraph } from "../train/train-graph.ts";
import { STYLE_CLASSES, styleNetForward, type StyleClass, type StyleNetConfig } from "./style-net.ts";

export const WEIGHTS_FILE = "style-classifier.safetensors";
const CONFIG_KEY = "advgrpo.style-classifier.config";

const StyleNetConfigSchema = Schema.Struct({ size: Schema.Number, channels: Schema.Array(Schema.Number) });

/** The file is not a style classifier's weights (no architecture, or tensors that do not fit it). */
export class StyleClassifierWeightsError extends Schema.TaggedError<StyleClassifierWeightsError>()("StyleClassifierWeightsError", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file}: not a style classifier weights file: ${this.reason}`;
  }
}

/** An image the classifier cannot read (it was trained at one resolution and does not resample). */
export class StyleClassifierInputError extends Schema.TaggedError<StyleClassifierInputError>()("StyleClassifierInputError", {
  index: Schema.Number,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `style classifier input ${this.index}: expected ${this.expected}, found ${this.found}`;
  }
}

type StyleClassifierWeights = ConfiguredWeights<StyleNetConfig>;

export const saveStyleClassifier = (file: string, weights: StyleClassifierWeights): Promise<void> => saveConfiguredWeights(file, CONFIG_KEY, weights);

const forwardGraph = (config: StyleNetConfig, batch: number): CompiledGraph => compileForward("style-classifier", styleNetForward(config, batch));

export const loadStyleClassifier = (file: string): Promise<StyleClassifierWeights> =>
  loadConfiguredWeights(file, {
    key: CONFIG_KEY,
    schema: StyleNetConfigSchema,
    description: "a style net config",
    paramSpecs: (config) => forwardGraph(config, 1).params,
    notWeights: (file, reason) => new StyleClassifierWeightsError({ file, reason }),
  });

/** One image's verdict: class probabilities in STYLE_CLASSES order and the most probable class. */
export interface StyleVerdict {
  readonly probabilities: Readonly<Record<StyleClass, number>>;
  readonly label: StyleClass;
}

export const verdictOf = (probabilities: ArrayLike<number>): StyleVerdict => {
  const record = Object.fromEntries(STYLE_CLASSES.map((c, i) => [c, probabilities[i]!])) as Record<StyleClass, number>;
  const label = STYLE_CLASSES.reduce((best, c) => (record[c] > record[best] ? c : best));
  return { probabilities: record, label };
};

/** Scores images in fixed-size batches (the graph's shapes are static); a short last batch is zero-padded. */
export class StyleClassifier {
  readonly config: StyleNetConfig;
  readonly batch: number;
  private readonly params: ParamSet;
  private readonly session: LocalSession;

  private constructor(config: StyleNetConfig, params: ParamSet, batch: number, session: LocalSession) {
    this.config = config;
    this.params = params;
    this.batch = batch;
    this.session = session;
  }

  static async create(weights: Pick<StyleClassifierWeights, "config" | "params">, options: { batch?: number; execution?: ExecutionConfig } = {}): Promise<StyleClassifier> {
    const batch = options.batch ?? 32;
    const graph = forwardGraph(weights.config, batch);
    const session = await LocalSession.create(graph.name, graph.bytes, options.execution);
    return new StyleClassifier(weights.config, weights.params, batch, session);
  }

  static async load(file: string, options: { batch?: number; execution?: ExecutionConfig } = {}): Promise<StyleClassifier> {
    return StyleClassifier.create(await loadStyleClassifier(file), options);
  }

  async classify(images: readonly RgbImage[]): Promise<StyleVerdict[]> {
    const { size } = this.config;
    const pixels = 3 * size * size;
    images.forEach((image, index) => {
      if (image.height !== size || image.width !== size || image.data.length !== pixels) {
        throw new StyleClassifierInputError({ index, expected: `a 3x${size}x${size} image`, found: `3x${image.height}x${image.width} (${image.data.length} values)` });
      }
    });
    const weights = paramFeeds(this.params);
    const verdicts: StyleVerdict[] = [];
    for (let start = 0; start < images.length; start += this.batch) {
      const chunk = images.slice(start, start + this.batch);
      const data = new Float32Array(this.batch * pixels);
      chunk.forEach((image, i) => data.set(image.data, i * pixels));
      const out = await this.session.run({ ...weights, images: { dtype: "float32", shape: [this.batch, 3, size, size], data } }, ["probabilities"]);
      const probabilities = out.probabilities!.data as Float32Array;
      chunk.forEach((_, i) => verdicts.push(verdictOf(probabilities.subarray(i * STYLE_CLASSES.length, (i + 1) * STYLE_CLASSES.length))));
    }
    return verdicts;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
