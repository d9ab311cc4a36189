/**
 * A CLIP-style ONNX text encoder (HF optimum's export of CLIPTextModel / CLIPTextModelWithProjection:
 * `input_ids` int64 [B, T] -> `last_hidden_state` [B, T, D] and `text_embeds` [B, D'] or `pooler_output`)
 * behind the model's own tokenizer.json, read with @huggingface/tokenizers. Prompts are tokenised with the
 * special tokens, truncated to `maxLength` keeping the end-of-text token, and padded with the pad token,
 * as diffusers' pipelines call CLIP (padding="max_length", truncation=True).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { Schema } from "effect";
import { readModelFile, readSignature, type ValueSignature } from "../../graph/import.ts";
import type { ExecutionConfig } from "../../runtime/execution.ts";
import { LocalSession } from "../../runtime/local-session.ts";
import { hostTensor, type HostTensor } from "../../runtime/tensors.ts";
import type { TextEncoderPort, TextEncoding } from "./port.ts";

const TEXT_ENCODER_NAMES = { ids: "input_ids", tokens: "last_hidden_state", pooled: ["text_embeds", "pooler_output"] } as const;

class TextEncoderError extends Schema.TaggedError<TextEncoderError>()("TextEncoderError", {
  file: Schema.String,
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `text encoder ${this.file}: ${this.field}: expected ${this.expected}, found ${this.found}`;
  }
}

interface PromptTokenizer {
  /** Token ids [B * maxLength], row-major. */
  encode(prompts: readonly string[]): number[];
  readonly maxLength: number;
}

const readJson = (file: string, field: string): object => {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as object;
  } catch (cause) {
    throw new TextEncoderError({ file, field, expected: "a readable JSON file", found: (cause as Error).message });
  }
};

/** The tokenizer of `tokenizer.json`, with tokenizer_config.json from the same folder when it is there. */
export const loadTokenizer = (file: string, maxLength: number): PromptTokenizer => {
  const json = readJson(file, "tokenizer") as { padding?: { pad_id?: number } | null };
  const configFile = join(dirname(file), "tokenizer_config.json");
  const config = existsSync(configFile) ? (readJson(configFile, "tokenizer config") as { pad_token?: string | { content?: string } }) : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (cause) {
    throw new TextEncoderError({ file, field: "tokenizer", expected: "a Hugging Face tokenizer.json", found: (cause as Error).message });
  }
  const padName = typeof config.pad_token === "string" ? config.pad_token : config.pad_token?.content;
  const configuredPad = json.padding?.pad_id ?? (padName === undefined ? undefined : tokenizer.token_to_id(padName));
  return {
    maxLength,
    encode: (prompts) =>
      prompts.flatMap((prompt) => {
        const ids = tokenizer.encode(prompt).ids;
        // CLIP ends every sequence with end-of-text, which is also what CLIP pads with when no pad token is set
        const last = ids[ids.length - 1]!;
        const kept = ids.length > maxLength ? [...ids.slice(0, maxLength - 1), last] : ids;
        return [...kept, ...new Array<number>(maxLength - kept.length).fill(configuredPad ?? last)];
      }),
  };
};

const describe = (v: ValueSignature | undefined): string => (v ? `${v.name} ${v.dtype} [${v.shape.join(", ")}]` : "no such tensor");

interface OnnxTextEncoderOptions {
  readonly model: string;
  readonly tokenizer: string;
  readonly maxLength: number;
}

export const loadOnnxTextEncoder = async (options: OnnxTextEncoderOptions, execution?: ExecutionConfig): Promise<TextEncoderPort & { release(): Promise<void> }> => {
  const { model: file, maxLength } = options;
  let bytes: Uint8Array;
  try {
    bytes = readModelFile(file);
  } catch (cause) {
    throw new TextEncoderError({ file, field: "file", expected: "a readable ONNX file (with its external data files, if any)", found: (cause as Error).message });
  }
  const signature = readSignature(bytes, file);
  const fail = (field: string, expected: string, found: string): never => {
    throw new TextEncoderError({ file, field, expected, found });
  };
  const ids = signature.inputs.find((i) => i.name === TEXT_ENCODER_NAMES.ids);
  if (!ids || ids.shape.length !== 2 || (ids.dtype !== "int64" && ids.dtype !== "int32")) fail(`input '${TEXT_ENCODER_NAMES.ids}'`, "int64 [B, T]", describe(ids));
  if (signature.inputs.length !== 1) fail("inputs", `only '${TEXT_ENCODER_NAMES.ids}'`, signature.inputs.map(describe).join("; "));
  const length = ids!.shape[1];
  if (typeof length === "number" && length !== maxLength) fail(`input '${TEXT_ENCODER_NAMES.ids}' length T`, `${maxLength} (generator.onnx.textEncoder.maxLength)`, String(length));
  const tokensOut = signature.outputs.find((o) => o.name === TEXT_ENCODER_NAMES.tokens);
  const pooledOut = signature.outputs.find((o) => (TEXT_ENCODER_NAMES.pooled as readonly string[]).includes(o.name));
  if (!tokensOut || tokensOut.shape.length !== 3) fail(`output '${TEXT_ENCODER_NAMES.tokens}'`, "float32 [B, T, D]", describe(tokensOut));
  if (!pooledOut || pooledOut.shape.length !== 2) fail("pooled output", "'text_embeds' or 'pooler_output' float32 [B, D']", signature.outputs.map(describe).join("; "));
  const batch = typeof ids!.shape[0] === "number" ? ids!.shape[0] : undefined;
  const tokenizer = loadTokenizer(options.tokenizer, maxLength);
  // from the path, so weights in external data beside the file (large encoders) are found
  const session = await LocalSession.createFromFile(file, file, execution);

  const run = async (prompts: readonly string[]): Promise<{ tokens: HostTensor; pooled: HostTensor }> => {
    const flat = tokenizer.encode(prompts);
    const data = ids!.dtype === "int64" ? BigInt64Array.from(flat, BigInt) : Int32Array.from(flat);
    const out = await session.run({ [TEXT_ENCODER_NAMES.ids]: hostTensor(ids!.dtype as "int64" | "int32", [prompts.length, maxLength], data) }, [tokensOut!.name, pooledOut!.name]);
    return { tokens: out[tokensOut!.name]!, pooled: out[pooledOut!.name]! };
  };
  // one probe fixes the widths the generator is checked against before any sampling
  const probe = await run(new Array<string>(batch ?? 1).fill(""));
  const [, t, d] = probe.tokens.shape as [number, number, number];
  const width = probe.pooled.shape[1]!;

  const encode = async (prompts: readonly string[]): Promise<TextEncoding> => {
    const chunk = batch ?? Math.max(prompts.length, 1);
    const tokens = new Float32Array(prompts.length * t * d);
    const pooled = new Float32Array(prompts.length * width);
    for (let start = 0; start < prompts.length; start += chunk) {
      const part = prompts.slice(start, start + chunk);
      const padded = [...part, ...new Array<string>(chunk - part.length).fill("")];
      const out = await run(padded);
      tokens.set((out.tokens.data as Float32Array).subarray(0, part.length * t * d), start * t * d);
      pooled.set((out.pooled.data as Float32Array).subarray(0, part.length * width), start * width);
    }
    return { tokens: hostTensor("float32", [prompts.length, t, d], tokens), pooled: hostTensor("float32", [prompts.length, width], pooled) };
  };
  return { width, tokenShape: [t, d], encode, release: () => session.release() };
};
