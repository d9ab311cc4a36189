/**
 * The feature stage: any ONNX with the DINOv2 export interface (input `pixel_values` [B,3,S,S], output
 * `last_hidden_state` [B,1+R+N,D]) behind the DINOv2 preprocessing graph. Returns CLS, patch tokens and
 * the pooled, L2-normalised feature used for similarity. The file's signature is checked at load, and
 * the output shape again at the first run (exports may leave token count and width symbolic).
 */
import { Schema } from "effect";
import { readModelFile, readSignature, type ValueSignature } from "../../graph/import.ts";
import type { RgbImage } from "../../io/png.ts";
import type { ExecutionConfig } from "../../runtime/execution.ts";
import { defaultExecution } from "../../runtime/execution.ts";
import { LocalSession } from "../../runtime/local-session.ts";
import { f32 } from "../../runtime/tensors.ts";
import { preprocessGraph } from "./preprocess.ts";

export interface BackboneConfig {
  /** Side the backbone expects (DINOv2 ViT-B/14: 518 or 224). */
  readonly size: number;
  readonly patchSize: number;
  /** Register tokens between CLS and patches (the "with registers" DINOv2 variants: 4). */
  readonly registers: number;
  /** Expected token width; omit to accept whatever the file declares. */
  readonly dim?: number;
  /** `cls`: the CLS token (HF pooler_output); `cls+mean`: CLS concatenated with the patch mean (DINOv2 linear eval). */
  readonly pooling: "cls" | "cls+mean";
}

/** A backbone file or run whose interface is not the DINOv2 export's. */
export class BackboneSignatureError extends Schema.TaggedError<BackboneSignatureError>()("BackboneSignatureError", {
  source: Schema.String,
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `backbone ${this.source}: ${this.field} should be ${this.expected}, found ${this.found}`;
  }
}

/** One image's token shapes: D (token width), N (patch tokens) and P (pooled width). */
export interface FeatureLayout {
  readonly dim: number;
  readonly patchCount: number;
  readonly pooledDim: number;
}

/** Tokens of a batch of images, row-major: cls [B,D], patches [B,N,D], pooled [B,P] with unit rows. */
export interface Features extends FeatureLayout {
  readonly batch: number;
  readonly cls: Float32Array;
  readonly patches: Float32Array;
  readonly pooled: Float32Array;
}

const patchesFor = (c: BackboneConfig): number => (c.size / c.patchSize) ** 2;
const tokensFor = (c: BackboneConfig): number => 1 + c.registers + patchesFor(c);

/** The shapes a backbone of config `c` produces at token width `dim`. */
export const featureLayout = (c: BackboneConfig, dim: number): FeatureLayout => ({ dim, patchCount: patchesFor(c), pooledDim: c.pooling === "cls" ? dim : 2 * dim });

const describe = (v: ValueSignature | undefined): string => (v ? `'${v.name}' ${v.dtype} [${v.shape.join(", ")}]` : "nothing");

/** Checks a model's declared interface; returns its fixed batch size, or undefined when the batch axis is symbolic. */
export const validateBackboneSignature = (bytes: Uint8Array, source: string, c: BackboneConfig): { batch?: number; dim?: number } => {
  const sig = readSignature(bytes, source);
  const fail = (field: string, expected: string, found: string): never => {
    throw new BackboneSignatureError({ source, field, expected, found });
  };
  if (!Number.isInteger(c.size / c.patchSize)) fail("size / patchSize", "an integer", `${c.size} / ${c.patchSize}`);
  const input = sig.inputs.find((i) => i.name === "pixel_values");
  if (!input) fail("input", "'pixel_values' float32 [B, 3, S, S]", sig.inputs.map(describe).join("; ") || "no inputs");
  if (sig.inputs.length !== 1) fail("inputs", "exactly one ('pixel_values')", sig.inputs.map(describe).join("; "));
  const output = sig.outputs.find((o) => o.name === "last_hidden_state");
  if (!output) fail("output", "'last_hidden_state' float32 [B, 1+R+N, D]", sig.outputs.map(describe).join("; ") || "no outputs");
  const [b, channels, h, w] = input!.shape;
  if (input!.dtype !== "float32" || input!.shape.length !== 4) fail("input 'pixel_values'", "float32 of rank 4 [B, 3, S, S]", describe(input));
  if (typeof channels === "number" && channels !== 3) fail("input 'pixel_values' channels", "3", String(channels));
  for (const [axis, value] of [["height", h], ["width", w]] as const) {
    if (typeof value === "number" && value !== c.size) fail(`input 'pixel_values' ${axis}`, `${c.size} (the configured size)`, String(value));
  }
  if (output!.dtype !== "float32" || output!.shape.length !== 3) fail("output 'last_hidden_state'", "float32 of rank 3 [B, 1+R+N, D]", describe(output));
  const [, tokens, dim] = output!.shape;
  if (typeof tokens === "number" && tokens !== tokensFor(c)) {
    fail("output 'last_hidden_state' tokens", `${tokensFor(c)} = 1 CLS + ${c.registers} registers + (${c.size}/${c.patchSize})^2 patches`, String(tokens));
  }
  if (typeof dim === "number" && c.dim !== undefined && dim !== c.dim) fail("output 'last_hidden_state' width D", String(c.dim), String(dim));
  return { ...(typeof b === "number" ? { batch: b } : {}), ...(typeof dim === "number" ? { dim } : {}) };
};

const l2normaliseRows = (x: Float32Array, width: number): Float32Array => {
  for (let r = 0; r < x.length / width; r++) {
    let sum = 0;
    for (let j = 0; j < width; j++) sum += x[r * width + j]! ** 2;
    const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
    for (let j = 0; j < width; j++) x[r * width + j]! *= scale;
  }
  return x;
};

/** Splits `last_hidden_state` rows into CLS and patches (dropping registers) and pools. */
const splitTokens = (hidden: Float32Array, batch: number, dim: number, c: BackboneConfig): Features => {
  const { patchCount: n, pooledDim } = featureLayout(c, dim);
  const tokens = tokensFor(c);
  const cls = new Float32Array(batch * dim);
  const patches = new Float32Array(batch * n * dim);
  for (let b = 0; b < batch; b++) {
    cls.set(hidden.subarray(b * tokens * dim, b * tokens * dim + dim), b * dim);
    const first = (b * tokens + 1 + c.registers) * dim;
    patches.set(hidden.subarray(first, first + n * dim), b * n * dim);
  }
  const pooled = new Float32Array(batch * pooledDim);
  for (let b = 0; b < batch; b++) {
    pooled.set(cls.subarray(b * dim, (b + 1) * dim), b * pooledDim);
    if (c.pooling === "cls+mean") {
      for (let k = 0; k < n; k++) for (let j = 0; j < dim; j++) pooled[b * pooledDim + dim + j]! += patches[(b * n + k) * dim + j]! / n;
    }
  }
  return { batch, dim, patchCount: n, cls, patches, pooledDim, pooled: l2normaliseRows(pooled, pooledDim) };
};

export class FeatureExtractor {
  readonly source: string;
  readonly config: BackboneConfig;
  /** The file's fixed batch size, or undefined for a symbolic batch axis. */
  readonly fixedBatch: number | undefined;
  private readonly backbone: LocalSession;
  private readonly execution: ExecutionConfig;
  private readonly preprocessors = new Map<string, LocalSession>();

  private constructor(source: string, config: BackboneConfig, fixedBatch: number | undefined, backbone: LocalSession, execution: ExecutionConfig) {
    this.source = source;
    this.config = config;
    this.fixedBatch = fixedBatch;
    this.backbone = backbone;
    this.execution = execution;
  }

  /** A model in memory (weights embedded). A file that leaves its token width open gets it from one probe run, so heads can be sized before any sampling. */
  static async create(bytes: Uint8Array, source: string, config: BackboneConfig, execution: ExecutionConfig = defaultExecution): Promise<FeatureExtractor> {
    return FeatureExtractor.start(bytes, source, config, () => LocalSession.create(source, bytes, execution), execution);
  }

  /**
   * A model file, loaded by ORT from its path so that weights in external data files beside it (exports past
   * 2 GB) are found; those files are checked first, so a missing or truncated one fails naming it.
   */
  static async open(path: string, config: BackboneConfig, execution: ExecutionConfig = defaultExecution): Promise<FeatureExtractor> {
    return FeatureExtractor.start(readModelFile(path), path, config, () => LocalSession.createFromFile(path, path, execution), execution);
  }

  private static async start(bytes: Uint8Array, source: string, config: BackboneConfig, session: () => Promise<LocalSession>, execution: ExecutionConfig): Promise<FeatureExtractor> {
    const { batch, dim } = validateBackboneSignature(bytes, source, config);
    const backbone = await session();
    const declared = config.dim ?? dim;
    if (declared !== undefined) return new FeatureExtractor(source, { ...config, dim: declared }, batch, backbone, execution);
    const probe = new FeatureExtractor(source, config, batch, backbone, execution);
    const { width } = await probe.runChunk([], batch ?? 1, config.size, config.size);
    await probe.releasePreprocessors();
    return new FeatureExtractor(source, { ...config, dim: width }, batch, backbone, execution);
  }

  /** Features of images that share one size; a fixed-batch file runs in chunks, the last one padded. */
  async extract(images: readonly RgbImage[]): Promise<Features> {
    const { height, width } = images[0] ?? { height: this.config.size, width: this.config.size };
    images.forEach((im, i) => {
      if (im.height !== height || im.width !== width) throw new BackboneSignatureError({ source: this.source, field: `images[${i}] size`, expected: `${height}x${width} like images[0]`, found: `${im.height}x${im.width}` });
    });
    const chunk = this.fixedBatch ?? Math.max(images.length, 1);
    const parts: Float32Array[] = [];
    let dim = this.config.dim ?? 0;
    for (let start = 0; start < images.length; start += chunk) {
      const { hidden, width: d } = await this.runChunk(images.slice(start, start + chunk), chunk, height, width);
      dim = d;
      parts.push(hidden.subarray(0, Math.min(chunk, images.length - start) * tokensFor(this.config) * d));
    }
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((offset, p) => (all.set(p, offset), offset + p.length), 0);
    return splitTokens(all, images.length, dim, this.config);
  }

  private async runChunk(images: readonly RgbImage[], chunk: number, height: number, width: number): Promise<{ hidden: Float32Array; width: number }> {
    const plane = 3 * height * width;
    const pixels = new Float32Array(chunk * plane);
    images.forEach((im, i) => pixels.set(im.data, i * plane));
    const pre = await this.preprocessor(chunk, height, width);
    const normalised = await pre.run({ images: f32([chunk, 3, height, width], pixels) });
    const out = (await this.backbone.run({ pixel_values: normalised.pixel_values! })).last_hidden_state!;
    const [b, tokens, d] = out.shape;
    if (b !== chunk || tokens !== tokensFor(this.config) || (this.config.dim !== undefined && d !== this.config.dim)) {
      throw new BackboneSignatureError({
        source: this.source,
        field: "last_hidden_state at run time",
        expected: `[${chunk}, ${tokensFor(this.config)}, ${this.config.dim ?? "D"}]`,
        found: `[${out.shape.join(", ")}]`,
      });
    }
    return { hidden: out.data as Float32Array, width: d! };
  }

  private async preprocessor(batch: number, height: number, width: number): Promise<LocalSession> {
    const key = `${batch}x${height}x${width}`;
    let session = this.preprocessors.get(key);
    if (!session) {
      session = await LocalSession.create(`preprocess ${key}`, preprocessGraph(batch, height, width, this.config.size), this.execution);
      this.preprocessors.set(key, session);
    }
    return session;
  }

  private async releasePreprocessors(): Promise<void> {
    for (const s of this.preprocessors.values()) await s.release();
    this.preprocessors.clear();
  }

  async release(): Promise<void> {
    await this.backbone.release();
    await this.releasePreprocessors();
  }
}
