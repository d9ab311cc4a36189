/**
 * The generator works on images scaled to [-1, 1] (zero-mean like its Gaussian noise, as SD's VAE latents are
 * roughly); the world and PNGs use [0, 1].
 */
import type { RgbImage } from "../../io/png.ts";

/** Copies `image` into `out` at sample `index` of a [B,3,H,W] batch, mapped to [-1, 1]. */
export const writeModelImage = (image: RgbImage, out: Float32Array, index: number): void => {
  const n = image.data.length;
  for (let i = 0; i < n; i++) out[index * n + i] = 2 * image.data[i]! - 1;
};

/** Sample `index` of a [B,3,H,W] batch in model space, back to a [0, 1] image (clipped). */
export const readModelImage = (batch: Float32Array, index: number, height: number, width: number): RgbImage => {
  const n = 3 * height * width;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.min(1, Math.max(0, (batch[index * n + i]! + 1) / 2));
  return { data, height, width };
};
