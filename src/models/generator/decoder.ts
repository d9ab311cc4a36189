/**
 * What turns sampled latents into the images the reward path sees: the identity for a pixel-space generator,
 * a VAE decoder for a latent one (src/models/generator/vae.ts). Images come back in [0, 1], before the 8-bit
 * rounding the sampler applies to every generated image.
 */
import type { RgbImage } from "../../io/png.ts";
import { readModelImage } from "./pixels.ts";

export interface LatentDecoder {
  /** Height = width of the decoded images. */
  readonly imageSize: number;
  /** `count` latents [count, C, H, W], row-major -> their images. */
  decode(latents: Float32Array, count: number): Promise<RgbImage[]>;
  release(): Promise<void>;
}

/** A pixel-space generator's latents are its images in [-1, 1]. */
export const pixelDecoder = (size: number): LatentDecoder => ({
  imageSize: size,
  decode: async (latents, count) => Array.from({ length: count }, (_, i) => readModelImage(latents, i, size, size)),
  release: async () => {},
});
