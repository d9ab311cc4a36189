/**
 * The embedded text encoder of the shapes world: a bag of words over the grammar's vocabulary, embedded by a
 * learned table and mean-pooled. Word order carries nothing in this grammar (every attribute has its own words),
 * so pooling loses no information, and the table is small enough to train jointly with the generator.
 *
 * The empty prompt maps to a dedicated token, so the unconditional embedding of classifier-free guidance is
 * learned too (trained by prompt dropout).
 */
import { Schema } from "effect";
import type { Tensor } from "../../graph/graph.ts";
import { matmul } from "../../graph/ops.ts";
import type { ParamScope } from "../../nn/params.ts";
import { getParam, type ParamSet } from "../../optim/param-set.ts";
import { hostTensor, type HostTensor } from "../../runtime/tensors.ts";
import { BACKGROUNDS, COLOURS, POSITIONS, SHAPES, SIZES } from "../../world/vocabulary.ts";
import type { TextEncoderPort, TextEncoding } from "./port.ts";

/** Token 0 stands for the empty prompt; the grammar's filler words ("a", "the", ...) carry nothing and are skipped. */
const EMPTY_TOKEN = "<empty>";
const FILLER = new Set(["a", "an", "on", "in", "the", "background"]);

export const VOCABULARY: readonly string[] = [EMPTY_TOKEN, ...SIZES, ...COLOURS, ...SHAPES, ...POSITIONS, ...BACKGROUNDS];

/** Parameter name of the embedding table [vocabulary, width]. */
const EMBEDDING_PARAM = "text.embedding";

/** A prompt word outside the vocabulary: an embedding for it was never trained. */
export class UnknownWordError extends Schema.TaggedError<UnknownWordError>()("UnknownWordError", {
  prompt: Schema.String,
  word: Schema.String,
  vocabulary: Schema.Array(Schema.String),
}) {
  override get message() {
    return `prompt "${this.prompt}": the word '${this.word}' is not in the text encoder's vocabulary (${this.vocabulary.slice(1).join(", ")})`;
  }
}

const index = new Map(VOCABULARY.map((word, i) => [word, i]));

/**
 * The pooling weights of each prompt, [B, vocabulary]: 1/n on each of its n content words, or 1 on the empty
 * token. The pooled embedding is these weights times the table, one MatMul in a graph or on the host.
 */
export const bagOfWords = (prompts: readonly string[]): HostTensor => {
  const v = VOCABULARY.length;
  const weights = new Float32Array(prompts.length * v);
  prompts.forEach((prompt, b) => {
    const words = prompt.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 0 && !FILLER.has(w));
    const ids = words.map((word) => index.get(word) ?? failUnknown(prompt, word));
    if (ids.length === 0) weights[b * v] = 1;
    for (const id of ids) weights[b * v + id]! += 1 / ids.length;
  });
  return hostTensor("float32", [prompts.length, v], weights);
};

const failUnknown = (prompt: string, word: string): never => {
  throw new UnknownWordError({ prompt, word, vocabulary: [...VOCABULARY] });
};

/** The in-graph encoder: pooling weights [B, vocabulary] -> pooled embeddings [B, width]. */
export const pooledEmbedding = (scope: ParamScope, weights: Tensor, width: number): Tensor =>
  matmul(weights, scope.param(EMBEDDING_PARAM, [VOCABULARY.length, width], { kind: "normal", std: 1 }));

/** The host-side encoder over a trained table (taken from the generator's parameter set). */
export const bagOfWordsEncoder = (params: ParamSet): TextEncoderPort => {
  const table = getParam(params, EMBEDDING_PARAM, "text encoder");
  const [v, width] = table.shape as [number, number];
  return {
    width,
    encode: (prompts): TextEncoding => {
      const weights = bagOfWords(prompts).data as Float32Array;
      const pooled = new Float32Array(prompts.length * width);
      for (let b = 0; b < prompts.length; b++) {
        for (let k = 0; k < v; k++) {
          const w = weights[b * v + k]!;
          if (w === 0) continue;
          for (let d = 0; d < width; d++) pooled[b * width + d]! += w * table.data[k * width + d]!;
        }
      }
      return { pooled: hostTensor("float32", [prompts.length, width], pooled) };
    },
  };
};
