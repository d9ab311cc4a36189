/**
 * Text embeddings computed ahead of time by the model's own text encoders (for SD3: two CLIPs and T5, which
 * are too large and too many to run beside training), stored as safetensors:
 *
 *   prompt_embeds                  [N, T, D]   per-token embeddings of the N prompts
 *   pooled_prompt_embeds           [N, D']     pooled embeddings of the N prompts
 *   negative_prompt_embeds         [1, T, D]   the empty prompt's, the unconditional branch of CFG
 *   negative_pooled_prompt_embeds  [1, D']
 *   metadata "prompts"             JSON array of the N prompt strings, in row order
 *
 * The names are those diffusers' StableDiffusion3Pipeline.encode_prompt returns; the README shows the Python
 * that writes the file. F32, F16 and BF16 tensors are read (computed in fp32).
 */
import { readFileSync } from "node:fs";
import { Schema } from "effect";
import { decodeSafetensors, type SafeTensor, toFloat32 } from "../../io/safetensors.ts";
import { hostTensor } from "../../runtime/tensors.ts";
import type { TextEncoderPort, TextEncoding } from "./port.ts";

const EMBEDDINGS_TENSORS = {
  tokens: "prompt_embeds",
  pooled: "pooled_prompt_embeds",
  emptyTokens: "negative_prompt_embeds",
  emptyPooled: "negative_pooled_prompt_embeds",
} as const;
const EMBEDDINGS_PROMPTS_KEY = "prompts";

class EmbeddingsFileError extends Schema.TaggedError<EmbeddingsFileError>()("EmbeddingsFileError", {
  file: Schema.String,
  /** The tensor, metadata key or prompt at fault. */
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `text embeddings ${this.file}: ${this.field}: expected ${this.expected}, found ${this.found}`;
  }
}

interface EmbeddingsFile extends TextEncoderPort {
  readonly file: string;
  readonly prompts: readonly string[];
  /** [T, D] of the per-token embeddings. */
  readonly tokenShape: readonly [number, number];
}

const parsePromptList = (metadata: Readonly<Record<string, string>>, file: string): string[] => {
  const fail = (found: string): never => {
    throw new EmbeddingsFileError({ file, field: `metadata "${EMBEDDINGS_PROMPTS_KEY}"`, expected: "a JSON array of the prompt strings, one per row", found });
  };
  const raw = metadata[EMBEDDINGS_PROMPTS_KEY] ?? fail("no such key");
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    fail(`invalid JSON ${JSON.stringify(raw.slice(0, 40))}`);
  }
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) return fail(JSON.stringify(list).slice(0, 60));
  const seen = new Set<string>();
  for (const p of list as string[]) {
    if (seen.has(p)) fail(`the prompt '${p}' twice`);
    seen.add(p);
  }
  return list as string[];
};

/** Decodes and checks a prompt-embeddings file: every tensor present, shapes consistent, one row per prompt. */
export const parseEmbeddingsFile = (bytes: Uint8Array, file: string): EmbeddingsFile => {
  const contents = decodeSafetensors(bytes, file);
  const byName = new Map(contents.tensors.map((t) => [t.name, t]));
  const tensor = (name: string, rank: number, shape: string): SafeTensor => {
    const t = byName.get(name);
    if (!t || t.shape.length !== rank) {
      throw new EmbeddingsFileError({ file, field: `tensor '${name}'`, expected: shape, found: t ? `[${t.shape.join(", ")}]` : `no such tensor (found: ${[...byName.keys()].join(", ") || "none"})` });
    }
    return t;
  };
  const prompts = parsePromptList(contents.metadata, file);
  const tokens = tensor(EMBEDDINGS_TENSORS.tokens, 3, "[N, T, D]");
  const pooled = tensor(EMBEDDINGS_TENSORS.pooled, 2, "[N, D']");
  const [n, t, d] = tokens.shape as [number, number, number];
  const width = pooled.shape[1]!;
  const expectShape = (x: SafeTensor, shape: readonly number[], what: string) => {
    if (x.shape.join() !== shape.join()) throw new EmbeddingsFileError({ file, field: `tensor '${x.name}'`, expected: `[${shape.join(", ")}] (${what})`, found: `[${x.shape.join(", ")}]` });
  };
  if (n !== prompts.length) throw new EmbeddingsFileError({ file, field: `tensor '${tokens.name}'`, expected: `${prompts.length} rows, one per prompt in metadata "${EMBEDDINGS_PROMPTS_KEY}"`, found: `${n}` });
  expectShape(pooled, [n, width], `one row per prompt like ${tokens.name}`);
  const emptyTokens = tensor(EMBEDDINGS_TENSORS.emptyTokens, 3, `[1, ${t}, ${d}]`);
  const emptyPooled = tensor(EMBEDDINGS_TENSORS.emptyPooled, 2, `[1, ${width}]`);
  expectShape(emptyTokens, [1, t, d], "the empty prompt, like one row of prompt_embeds");
  expectShape(emptyPooled, [1, width], "the empty prompt, like one row of pooled_prompt_embeds");

  const tokenData = toFloat32(tokens, file);
  const pooledData = toFloat32(pooled, file);
  const rows = new Map(prompts.map((p, i) => [p, i]));
  const emptyTokenData = toFloat32(emptyTokens, file);
  const emptyPooledData = toFloat32(emptyPooled, file);
  for (const [name, data] of [[tokens.name, tokenData], [pooled.name, pooledData], [emptyTokens.name, emptyTokenData], [emptyPooled.name, emptyPooledData]] as const) {
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new EmbeddingsFileError({ file, field: `tensor '${name}'`, expected: "finite values", found: `${data[bad]} at flat index ${bad}` });
  }
  return {
    file,
    prompts,
    width,
    tokenShape: [t, d],
    encode: (batch): TextEncoding => {
      const outTokens = new Float32Array(batch.length * t * d);
      const outPooled = new Float32Array(batch.length * width);
      batch.forEach((prompt, b) => {
        const row = prompt === "" ? -1 : (rows.get(prompt) ?? missing(prompt));
        outTokens.set(row < 0 ? emptyTokenData : tokenData.subarray(row * t * d, (row + 1) * t * d), b * t * d);
        outPooled.set(row < 0 ? emptyPooledData : pooledData.subarray(row * width, (row + 1) * width), b * width);
      });
      return { tokens: hostTensor("float32", [batch.length, t, d], outTokens), pooled: hostTensor("float32", [batch.length, width], outPooled) };
    },
  };

  function missing(prompt: string): never {
    throw new EmbeddingsFileError({ file, field: `prompt '${prompt}'`, expected: `a row in metadata "${EMBEDDINGS_PROMPTS_KEY}" (${prompts.length} prompts)`, found: "none: embed it with the README's snippet" });
  }
};

export const loadEmbeddingsFile = (file: string): EmbeddingsFile => {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new EmbeddingsFileError({ file, field: "file", expected: "a readable safetensors file", found: (cause as Error).message });
  }
  return parseEmbeddingsFile(bytes, file);
};

/** Checks before any sampling that every prompt the run uses has its row, naming the first few that do not. */
export const checkPromptsEmbedded = (embeddings: EmbeddingsFile, prompts: readonly string[], field: string): void => {
  const known = new Set(embeddings.prompts);
  const absent = prompts.filter((p) => !known.has(p));
  if (absent.length > 0) {
    throw new EmbeddingsFileError({
      file: embeddings.file,
      field: `${field} prompts`,
      expected: `each in metadata "${EMBEDDINGS_PROMPTS_KEY}"`,
      found: `${absent.length} missing, e.g. ${absent.slice(0, 3).map((p) => `'${p}'`).join(", ")}`,
    });
  }
};
