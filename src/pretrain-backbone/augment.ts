/**
 * Views for self-distillation: random resized crops and horizontal flips only. No colour jitter and no
 * blur or noise as augmentations: palette, shading and crispness are what "style" means in this world,
 * so the features must not be taught to ignore them.
 */
import type { RgbImage } from "../io/png.ts";
import { resampleBilinear } from "../io/resample.ts";
import type { Rng } from "../util/prng.ts";

interface CropScale {
  readonly min: number;
  readonly max: number;
}

export const GLOBAL_CROP: CropScale = { min: 0.5, max: 1 };
export const LOCAL_CROP: CropScale = { min: 0.15, max: 0.45 };

/** A crop covering a random area fraction and aspect ratio in [3/4, 4/3], resampled bilinearly to `size`, maybe mirrored. */
export const randomView = (image: RgbImage, rng: Rng, scale: CropScale, size: number): RgbImage => {
  const { width, height } = image;
  const area = (scale.min + rng.next() * (scale.max - scale.min)) * width * height;
  const logRatio = Math.log(3 / 4) + rng.next() * (Math.log(4 / 3) - Math.log(3 / 4));
  const cropW = Math.min(width, Math.sqrt(area * Math.exp(logRatio)));
  const cropH = Math.min(height, Math.sqrt(area / Math.exp(logRatio)));
  const x0 = rng.next() * (width - cropW);
  const y0 = rng.next() * (height - cropH);
  const flip = rng.next() < 0.5;
  return { data: resampleBilinear(image, { x0, y0, x1: x0 + cropW, y1: y0 + cropH }, size, size, flip), height: size, width: size };
};
