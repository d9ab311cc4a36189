/**
 * Views for self-distillation: random resized crops and horizontal flips only. No colour jitter and no
 * blur or noise as augmentations: palette, shading and crispness are what "style" means in this world,
 * so the features must not be taught to ignore them.
 */
import type { RgbImage } from "../io/png.ts";
import type { Rng } from "../util/prng.ts";

export interface CropScale {
  readonly min: number;
  readonly max: number;
}

export const GLOBAL_CROP: CropScale = { min: 0.5, max: 1 };
export const LOCAL_CROP: CropScale = { min: 0.15, max: 0.45 };

/** A crop covering a random area fraction and aspect ratio in [3/4, 4/3], resampled bilinearly to `size`, maybe mirrored. */
export const randomView = (image: RgbImage, rng: Rng, scale: CropScale, size: number): RgbImage => {
  const { width, height, data } = image;
  const area = (scale.min + rng.next() * (scale.max - scale.min)) * width * height;
  const logRatio = Math.log(3 / 4) + rng.next() * (Math.log(4 / 3) - Math.log(3 / 4));
  const cropW = Math.min(width, Math.sqrt(area * Math.exp(logRatio)));
  const cropH = Math.min(height, Math.sqrt(area / Math.exp(logRatio)));
  const x0 = rng.next() * (width - cropW);
  const y0 = rng.next() * (height - cropH);
  const flip = rng.next() < 0.5;
  const out = new Float32Array(3 * size * size);
  for (let row = 0; row < size; row++) {
    const fy = Math.min(Math.max(y0 + ((row + 0.5) / size) * cropH - 0.5, 0), height - 1);
    const ya = Math.floor(fy);
    const yb = Math.min(ya + 1, height - 1);
    const ty = fy - ya;
    for (let col = 0; col < size; col++) {
      const u = flip ? size - 1 - col : col;
      const fx = Math.min(Math.max(x0 + ((u + 0.5) / size) * cropW - 0.5, 0), width - 1);
      const xa = Math.floor(fx);
      const xb = Math.min(xa + 1, width - 1);
      const tx = fx - xa;
      for (let c = 0; c < 3; c++) {
        const base = c * width * height;
        const top = data[base + ya * width + xa]! * (1 - tx) + data[base + ya * width + xb]! * tx;
        const bottom = data[base + yb * width + xa]! * (1 - tx) + data[base + yb * width + xb]! * tx;
        out[c * size * size + row * size + col] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return { data: out, height: size, width: size };
};
