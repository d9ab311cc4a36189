/**
 * Seeded degradations of an image: probes of the analyser's and reward's robustness, and negatives
 * for a style classifier (damaged images that are not "reference style" whatever their colours).
 *
 *   noise   - additive Gaussian noise per channel;
 *   speckle - a sprinkle of random-coloured pixels (the texture a hacked generator tends to learn);
 *   blur    - Gaussian blur;
 *   smear   - motion blur along a random direction;
 *   shrink  - the shape scaled down about its centre, the freed area filled with background;
 *   break   - a background-coloured band cut through the shape at a random angle, splitting it.
 * `strength` scales every effect (1 = clearly visible at 32 px). Shape-level degradations find the
 * shape with the analyser's segmentation and return an unchanged copy when there is none.
 */
import type { RgbImage } from "../io/png.ts";
import type { Rng } from "../util/prng.ts";
import { segmentShape, type ShapeRegion } from "./segment.ts";

export const DEGRADATIONS = ["noise", "speckle", "blur", "smear", "shrink", "break"] as const;
export type Degradation = (typeof DEGRADATIONS)[number];

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

function copy(image: RgbImage): RgbImage {
  return { data: new Float32Array(image.data), height: image.height, width: image.width };
}

/** Bilinear sample of channel c at pixel coordinates (x, y) (pixel centres at +0.5), edges clamped. */
function sample(image: RgbImage, c: number, x: number, y: number): number {
  const { height, width, data } = image;
  const fx = Math.min(Math.max(x - 0.5, 0), width - 1);
  const fy = Math.min(Math.max(y - 0.5, 0), height - 1);
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const x1 = Math.min(x0 + 1, width - 1);
  const y1 = Math.min(y0 + 1, height - 1);
  const tx = fx - x0;
  const ty = fy - y0;
  const base = c * height * width;
  const top = data[base + y0 * width + x0] * (1 - tx) + data[base + y0 * width + x1] * tx;
  const bottom = data[base + y1 * width + x0] * (1 - tx) + data[base + y1 * width + x1] * tx;
  return top * (1 - ty) + bottom * ty;
}

function addNoise(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const out = copy(image);
  for (let i = 0; i < out.data.length; i++) out.data[i] = clamp01(out.data[i] + 0.1 * strength * rng.normal());
  return out;
}

function speckle(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const out = copy(image);
  const plane = image.height * image.width;
  const fraction = Math.min(0.08 * strength, 1);
  for (let p = 0; p < plane; p++) {
    if (rng.next() >= fraction) continue;
    for (let c = 0; c < 3; c++) out.data[c * plane + p] = rng.next();
  }
  return out;
}

/** Averages `taps` samples along offsets(t) for t evenly spread in [-1, 1]. */
function averageAlong(image: RgbImage, taps: number, offset: (t: number) => readonly [number, number, number]): RgbImage {
  const out = copy(image);
  const { height, width } = image;
  const plane = height * width;
  const steps = Array.from({ length: taps }, (_, k) => offset(taps === 1 ? 0 : -1 + (2 * k) / (taps - 1)));
  const totalWeight = steps.reduce((s, [, , w]) => s + w, 0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (const [dx, dy, w] of steps) sum += w * sample(image, c, x + 0.5 + dx, y + 0.5 + dy);
        out.data[c * plane + y * width + x] = sum / totalWeight;
      }
    }
  }
  return out;
}

function blur(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const sigma = (0.7 + 0.6 * rng.next()) * strength;
  const reach = 2 * sigma;
  const gaussian = (t: number): readonly [number, number, number] => [t * reach, 0, Math.exp(-0.5 * ((t * reach) / sigma) ** 2)];
  const horizontal = averageAlong(image, 9, gaussian);
  return averageAlong(horizontal, 9, (t) => {
    const [d, , w] = gaussian(t);
    return [0, d, w];
  });
}

function smear(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const angle = Math.PI * rng.next();
  const halfLength = 0.5 * (3 + 3 * rng.next()) * strength;
  return averageAlong(image, 11, (t) => [t * halfLength * Math.cos(angle), t * halfLength * Math.sin(angle), 1]);
}

function shapeCentre(region: ShapeRegion): readonly [number, number] {
  return [(region.left + region.right + 1) / 2, (region.top + region.bottom + 1) / 2];
}

/** Rewrites the pixels within `margin` of the shape's bounding box through `repaint`. */
function repaintAroundShape(
  image: RgbImage,
  margin: number,
  repaint: (region: ShapeRegion, x: number, y: number, out: number[]) => void,
): RgbImage {
  const region = segmentShape(image, 1);
  const out = copy(image);
  if (region === null) return out;
  const { height, width } = image;
  const plane = height * width;
  const colour = [0, 0, 0];
  for (let y = Math.max(region.top - margin, 0); y <= Math.min(region.bottom + margin, height - 1); y++) {
    for (let x = Math.max(region.left - margin, 0); x <= Math.min(region.right + margin, width - 1); x++) {
      repaint(region, x + 0.5, y + 0.5, colour);
      for (let c = 0; c < 3; c++) out.data[c * plane + y * width + x] = colour[c];
    }
  }
  return out;
}

function shrink(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const scale = Math.max(1 - (0.4 + 0.1 * rng.next()) * strength, 0.1);
  return repaintAroundShape(image, 1, (region, x, y, out) => {
    const [cx, cy] = shapeCentre(region);
    const sx = cx + (x - cx) / scale;
    const sy = cy + (y - cy) / scale;
    const inside = sx >= region.left - 1 && sx <= region.right + 2 && sy >= region.top - 1 && sy <= region.bottom + 2;
    for (let c = 0; c < 3; c++) out[c] = inside ? sample(image, c, sx, sy) : region.background.rgb[c];
  });
}

function breakShape(image: RgbImage, rng: Rng, strength: number): RgbImage {
  const angle = Math.PI * rng.next();
  const [normalX, normalY] = [-Math.sin(angle), Math.cos(angle)];
  const offset = (rng.next() - 0.5) * 0.3;
  return repaintAroundShape(image, 0, (region, x, y, out) => {
    const [cx, cy] = shapeCentre(region);
    const extent = Math.max(region.right - region.left, region.bottom - region.top) + 1;
    const halfBand = Math.max(0.11 * extent * strength, 0.75);
    const across = (x - cx) * normalX + (y - cy) * normalY - offset * extent;
    const cut = Math.abs(across) < halfBand;
    const plane = image.height * image.width;
    const p = Math.floor(y) * image.width + Math.floor(x);
    for (let c = 0; c < 3; c++) out[c] = cut ? region.background.rgb[c] : image.data[c * plane + p];
  });
}

const APPLY: Readonly<Record<Degradation, (image: RgbImage, rng: Rng, strength: number) => RgbImage>> = {
  noise: addNoise,
  speckle,
  blur,
  smear,
  shrink,
  break: breakShape,
};

/** A degraded copy of `image`; the input is never modified. */
export function degrade(image: RgbImage, kind: Degradation, rng: Rng, strength = 1): RgbImage {
  return APPLY[kind](image, rng, strength);
}
