/**
 * What the generator needs from a text encoder. The embedded bag-of-words encoder fills `pooled` only; an external
 * encoder (e.g. the CLIP/T5 exports that go with an SD3-style generator) may fill both, matching the generator's
 * `pooled_embeds` [B, D] and `text_embeds` [B, T, D] inputs.
 */
import type { HostTensor } from "../../runtime/tensors.ts";

export interface TextEncoding {
  /** [B, D] float32. */
  readonly pooled?: HostTensor;
  /** [B, T, D] float32 per-token embeddings. */
  readonly tokens?: HostTensor;
}

export interface TextEncoderPort {
  /** Width D of the pooled embedding. */
  readonly width: number;
  /** [T, D] of the per-token embeddings, for encoders that give them. */
  readonly tokenShape?: readonly [number, number];
  /** Embeds prompts; the empty string gives the unconditional embedding used by classifier-free guidance. */
  encode(prompts: readonly string[]): TextEncoding | Promise<TextEncoding>;
}
