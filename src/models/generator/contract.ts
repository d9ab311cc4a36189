/**
 * The contract an ONNX velocity model meets to serve as the generator, whether the embedded DiT's export or a
 * user's SD3-style export. Checked against the file's declared signature when it is loaded, before any sampling.
 *
 *   inputs   latents        float32 [B, C, H, W]   x_t in the model's (latent or pixel) space
 *            sigma          float32 [B]            noise level in [0, 1] (x_t = (1 - sigma) x0 + sigma x1)
 *        or  timestep       float32 [B]            sigma * 1000, for models trained with integer-scale timesteps
 *            text_embeds    float32 [B, T, D]      per-token text embeddings        } at least one of the two;
 *            pooled_embeds  float32 [B, D']        pooled text embedding            } both when the model reads both
 *   output   velocity       float32 [B, C, H, W]   v = x1 - x0 (noise minus data), the diffusers flow-match convention
 *
 * Dimensions may be fixed numbers or symbolic names (a dynamic batch); fixed ones must agree across tensors.
 * No other inputs are allowed: an input the sampler cannot feed would fail at the first step instead of at load.
 */
import { Schema } from "effect";
import { type ModelSignature, readSignature, type ValueSignature } from "../../graph/import.ts";
import type { ExecutionConfig } from "../../runtime/execution.ts";
import { LocalSession } from "../../runtime/local-session.ts";
import { hostTensor, type HostTensor } from "../../runtime/tensors.ts";
import type { TextEncoding } from "../text/port.ts";

export const GENERATOR_NAMES = {
  latents: "latents",
  sigma: "sigma",
  timestep: "timestep",
  text: "text_embeds",
  pooled: "pooled_embeds",
  velocity: "velocity",
} as const;

/** HF optimum's names for diffusers' SD3Transformer2DModel export (its timestep is sigma * 1000 too). */
const OPTIMUM_NAMES = {
  latents: "hidden_states",
  timestep: "timestep",
  text: "encoder_hidden_states",
  pooled: "pooled_projections",
  velocity: "out_hidden_states",
} as const;

type GeneratorRole = keyof typeof GENERATOR_NAMES;
/** The file's tensor name for each contract role it uses (e.g. from the pipeline file's generator.onnx.names). */
export type NameMapping = Readonly<Partial<Record<GeneratorRole, string>>>;

/**
 * Which names the file uses: an explicit mapping (roles it leaves out keep the contract names), else HF
 * optimum's when the file has its latents input, else the contract's.
 */
const generatorNamesOf = (signature: ModelSignature, explicit?: NameMapping): { convention: "explicit" | "optimum" | "contract"; names: Readonly<Record<GeneratorRole, string>> } => {
  if (explicit && Object.keys(explicit).length > 0) return { convention: "explicit", names: { ...GENERATOR_NAMES, ...explicit } };
  if (signature.inputs.some((i) => i.name === OPTIMUM_NAMES.latents)) return { convention: "optimum", names: { ...GENERATOR_NAMES, ...OPTIMUM_NAMES } };
  return { convention: "contract", names: GENERATOR_NAMES };
};

/**
 * Checks a file under its naming convention: tensors are renamed to the contract's and checked; a file that
 * fits neither convention gets the contract error, with the names it was read under.
 */
export const checkNamedGeneratorSignature = (signature: ModelSignature, source: string, explicit?: NameMapping): { signature: GeneratorSignature; names: Readonly<Record<GeneratorRole, string>> } => {
  const { convention, names } = generatorNamesOf(signature, explicit);
  const toContract = new Map(Object.entries(names).map(([role, name]) => [name, GENERATOR_NAMES[role as GeneratorRole]]));
  const rename = (v: ValueSignature): ValueSignature => ({ ...v, name: toContract.get(v.name) ?? v.name });
  const described = convention === "contract" ? source : `${source} (read with ${convention} names: ${Object.entries(names).map(([role, name]) => `${role} = '${name}'`).join(", ")})`;
  try {
    return { signature: checkGeneratorSignature({ ...signature, inputs: signature.inputs.map(rename), outputs: signature.outputs.map(rename) }, described), names };
  } catch (error) {
    if (!(error instanceof GeneratorContractError)) throw error;
    throw new GeneratorContractError({ source: error.source, problems: error.problems, foundInputs: signature.inputs.map(describeValue), foundOutputs: signature.outputs.map(describeValue) });
  }
};

/** Sigma is fed as `timestep` = sigma * TIMESTEP_SCALE to models that take timesteps. */
const TIMESTEP_SCALE = 1000;

const EXPECTED_INPUTS = [
  "latents float32 [B, C, H, W]",
  "sigma float32 [B] (or timestep float32 [B] = sigma * 1000)",
  "text_embeds float32 [B, T, D] and/or pooled_embeds float32 [B, D]",
];
const EXPECTED_OUTPUTS = ["velocity float32 [B, C, H, W]"];

const Problem = Schema.Struct({ tensor: Schema.String, expected: Schema.String, found: Schema.String });
type ContractProblem = typeof Problem.Type;

/** The model's signature breaks the contract: every problem, then the whole expected and found signatures. */
export class GeneratorContractError extends Schema.TaggedError<GeneratorContractError>()("GeneratorContractError", {
  source: Schema.String,
  problems: Schema.Array(Problem),
  foundInputs: Schema.Array(Schema.String),
  foundOutputs: Schema.Array(Schema.String),
}) {
  override get message() {
    // Errors about sizes past the signature check carry no signature: the model's inputs are then fine, not "none".
    const signature = this.foundInputs.length + this.foundOutputs.length === 0
      ? []
      : [
          `expected inputs:  ${EXPECTED_INPUTS.join("; ")}`,
          `found inputs:     ${this.foundInputs.join("; ") || "none"}`,
          `expected outputs: ${EXPECTED_OUTPUTS.join("; ")}`,
          `found outputs:    ${this.foundOutputs.join("; ") || "none"}`,
        ];
    return [
      `${this.source}: not a usable generator (${this.problems.length} problem${this.problems.length === 1 ? "" : "s"}):`,
      ...this.problems.map((p) => `  - ${p.tensor}: expected ${p.expected}, found ${p.found}`),
      ...signature,
    ].join("\n");
  }
}

type Dim = number | string;

/** What a generator file was found to take and give, once it meets the contract. */
export interface GeneratorSignature {
  /** Batch size the model was exported for, or its symbolic name (any batch). */
  readonly batch: Dim;
  /** Per-sample latent shape [C, H, W] (symbolic where the export left it open). */
  readonly latentShape: readonly [Dim, Dim, Dim];
  readonly time: "sigma" | "timestep";
  /** [T, D] of text_embeds when the model reads per-token embeddings. */
  readonly textEmbeds?: readonly [Dim, Dim];
  /** D of pooled_embeds when the model reads a pooled embedding. */
  readonly pooledWidth?: Dim;
}

export const describeValue = (v: ValueSignature): string => `${v.name} ${v.dtype} [${v.shape.join(", ")}]`;

/** Checks a model signature against the contract; throws GeneratorContractError listing every problem. */
export const checkGeneratorSignature = (signature: ModelSignature, source: string): GeneratorSignature => {
  const problems: ContractProblem[] = [];
  const inputs = new Map(signature.inputs.map((i) => [i.name, i]));
  const outputs = new Map(signature.outputs.map((o) => [o.name, o]));
  const found = (v: ValueSignature | undefined): string => (v ? `${v.dtype} [${v.shape.join(", ")}]` : "no such tensor");
  const check = (map: Map<string, ValueSignature>, name: string, rank: number, expected: string): ValueSignature | undefined => {
    const v = map.get(name);
    if (!v || v.dtype !== "float32" || v.shape.length !== rank) {
      problems.push({ tensor: name, expected, found: found(v) });
      return undefined;
    }
    return v;
  };

  const latents = check(inputs, GENERATOR_NAMES.latents, 4, "float32 [B, C, H, W]");
  const hasSigma = inputs.has(GENERATOR_NAMES.sigma);
  const hasTimestep = inputs.has(GENERATOR_NAMES.timestep);
  const time = hasTimestep && !hasSigma ? GENERATOR_NAMES.timestep : GENERATOR_NAMES.sigma;
  if (hasSigma && hasTimestep) problems.push({ tensor: "sigma / timestep", expected: "exactly one of the two", found: "both" });
  const timeInput = check(inputs, time, 1, hasSigma || hasTimestep ? "float32 [B]" : "float32 [B] (sigma, or timestep = sigma * 1000)");
  const hasText = inputs.has(GENERATOR_NAMES.text);
  const hasPooled = inputs.has(GENERATOR_NAMES.pooled);
  if (!hasText && !hasPooled) problems.push({ tensor: "text_embeds / pooled_embeds", expected: "at least one text input", found: "neither" });
  const text = hasText ? check(inputs, GENERATOR_NAMES.text, 3, "float32 [B, T, D]") : undefined;
  const pooled = hasPooled ? check(inputs, GENERATOR_NAMES.pooled, 2, "float32 [B, D]") : undefined;
  const known = new Set<string>(Object.values(GENERATOR_NAMES));
  for (const extra of signature.inputs.filter((i) => !known.has(i.name) || i.name === GENERATOR_NAMES.velocity)) {
    problems.push({ tensor: extra.name, expected: "no input of this name (the sampler cannot feed it)", found: found(extra) });
  }
  const velocity = check(outputs, GENERATOR_NAMES.velocity, 4, "float32 [B, C, H, W], like latents");

  if (latents && velocity) {
    latents.shape.forEach((d, i) => {
      const v = velocity.shape[i]!;
      if (typeof d === "number" && typeof v === "number" && d !== v) {
        problems.push({ tensor: GENERATOR_NAMES.velocity, expected: `the shape of latents [${latents.shape.join(", ")}]`, found: `[${velocity.shape.join(", ")}]` });
      }
    });
  }
  const batches = [latents, timeInput, text, pooled].flatMap((v) => (v && typeof v.shape[0] === "number" ? [v] : []));
  if (new Set(batches.map((v) => v.shape[0])).size > 1) {
    problems.push({ tensor: "batch dimension", expected: "the same size on every input", found: batches.map((v) => `${v.name} ${v.shape[0]}`).join(", ") });
  }
  if (problems.length > 0 || !latents) {
    throw new GeneratorContractError({
      source,
      // dedupe: a mismatched latents/velocity pair is reported once, not once per axis
      problems: problems.filter((p, i) => problems.findIndex((q) => q.tensor === p.tensor && q.found === p.found) === i),
      foundInputs: signature.inputs.map(describeValue),
      foundOutputs: signature.outputs.map(describeValue),
    });
  }
  return {
    batch: latents.shape[0]!,
    latentShape: [latents.shape[1]!, latents.shape[2]!, latents.shape[3]!],
    time,
    ...(text ? { textEmbeds: [text.shape[1]!, text.shape[2]!] as const } : {}),
    ...(pooled ? { pooledWidth: pooled.shape[1]! } : {}),
  };
};

/** A loaded generator: one velocity evaluation per call, for a batch of latents and their text encodings. */
export interface GeneratorModel {
  readonly source: string;
  readonly signature: GeneratorSignature;
  /** latents [B, C, H, W]; sigma [B]; text carries what the model reads (pooled and/or tokens, batch B). */
  velocity(latents: HostTensor, sigma: Float32Array, text: TextEncoding): Promise<Float32Array>;
  release(): Promise<void>;
}

const textFeed = (text: TextEncoding, key: "pooled" | "tokens", name: string, source: string): HostTensor =>
  text[key] ??
  (() => {
    throw new GeneratorContractError({
      source,
      problems: [{ tensor: name, expected: `the text encoder to provide ${key === "pooled" ? "pooled embeddings" : "per-token embeddings"}`, found: "none" }],
      foundInputs: [],
      foundOutputs: [],
    });
  })();

/** Validates the model's signature, then opens a session on it. */
export const loadGeneratorModel = async (bytes: Uint8Array, source: string, execution?: ExecutionConfig): Promise<GeneratorModel> => {
  const signature = checkGeneratorSignature(readSignature(bytes, source), source);
  const session = await LocalSession.create(source, bytes, execution);
  return {
    source,
    signature,
    velocity: async (latents, sigma, text) => {
      const time = signature.time === "timestep" ? sigma.map((s) => s * TIMESTEP_SCALE) : sigma;
      const feeds: Record<string, HostTensor> = {
        [GENERATOR_NAMES.latents]: latents,
        [signature.time]: hostTensor("float32", [sigma.length], time),
      };
      if (signature.pooledWidth !== undefined) feeds[GENERATOR_NAMES.pooled] = textFeed(text, "pooled", GENERATOR_NAMES.pooled, source);
      if (signature.textEmbeds !== undefined) feeds[GENERATOR_NAMES.text] = textFeed(text, "tokens", GENERATOR_NAMES.text, source);
      const out = await session.run(feeds, [GENERATOR_NAMES.velocity]);
      return out[GENERATOR_NAMES.velocity]!.data as Float32Array;
    },
    release: () => session.release(),
  };
};
