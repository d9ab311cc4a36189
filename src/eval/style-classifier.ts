/**
 * The trained style classifier: its weights file (safetensors, architecture as metadata, so the file alone
 * rebuilds the net) and a `StyleClassifier` that scores batches of images through an ORT session.
 */
import { readFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import type { RgbImage } from "../io/png.ts";
import { decodeSafetensors, fromParamSet, SafetensorsIoError, toParamSet, validateAgainst, writeSafetensors } from "../io/safetensors.ts";
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

export interface StyleClassifierWeights {
  readonly config: StyleNetConfig;
  readonly params: ParamSet;
  /** Provenance (command, seed, steps, accuracy ...), kept verbatim. */
  readonly metadata: Readonly<Record<string, string>>;
}

export const saveStyleClassifier = (file: string, weights: StyleClassifierWeights): Promise<void> =>
  Effect.runPromise(
    writeSafetensors(file, { tensors: fromParamSet(weights.params), metadata: { ...weights.metadata, [CONFIG_KEY]: JSON.stringify(weights.config) } }),
  );

const forwardGraph = (config: StyleNetConfig, batch: number): CompiledGraph => compileForward("style-classifier", styleNetForward(config, batch));

export const loadStyleClassifier = async (file: string): Promise<StyleClassifierWeights> => {
  const bytes = await readFile(file).catch((cause: Error) => {
    throw new SafetensorsIoError({ file, operation: "read", reason: cause.message });
  });
  const contents = decodeSafetensors(bytes, file);
  const raw = contents.metadata[CONFIG_KEY];
  if (raw === undefined) throw new StyleClassifierWeightsError({ file, reason: `metadata has no '${CONFIG_KEY}' entry` });
  const decoded = Schema.decodeUnknownOption(StyleNetConfigSchema)(JSON.parse(raw));
  if (decoded._tag === "None") throw new StyleClassifierWeightsError({ file, reason: `'${CONFIG_KEY}' is not a style net config: ${raw}` });
  const config = decoded.value;
  validateAgainst(contents, forwardGraph(config, 1).params.map((s) => ({ name: s.name, shape: s.shape, dtype: "F32" as const })), file);
  return { config, params: toParamSet(contents, file), metadata: contents.metadata };
};

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
