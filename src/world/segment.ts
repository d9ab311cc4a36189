/**
 * Finds the one shape of a shapes-world image from the pixels alone: the background is the median of
 * the border, the shape is the largest connected blob of pixels far enough from it. Shared by the
 * alignment analyser and the shape-level degradations.
 */
import type { RgbImage } from "../io/png.ts";
import type { Rgb } from "./vocabulary.ts";

/** Border pixels this close (RGB Euclidean) to the border median count as agreeing with it. */
const BORDER_TOLERANCE = 0.2;
/** Pixels at least this far from the background seed the shape mask. */
const SEED_THRESHOLD = 0.2;
/** The final mask keeps pixels further from the background than this fraction of the shape's own distance. */
const EDGE_FRACTION = 0.45;
/** Ring of border pixels (each side) used for the background estimate. */
const BORDER_RING = 2;

interface Background {
  readonly rgb: Rgb;
  /** Fraction of border pixels within tolerance of `rgb`: low for noise or a shape across the border. */
  readonly agreement: number;
}

export interface ShapeRegion {
  readonly background: Background;
  /** Median colour of the shape's interior. */
  readonly rgb: Rgb;
  /** 1 where a pixel belongs to the shape's blob ([H*W], row-major). */
  readonly mask: Uint8Array;
  readonly area: number;
  /** Foreground pixels outside the blob, as a fraction of the blob's area. */
  readonly stray: number;
  /** Inclusive pixel bounds of the blob. */
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

function pixelRgb(image: RgbImage, p: number): Rgb {
  const plane = image.height * image.width;
  return [image.data[p], image.data[plane + p], image.data[2 * plane + p]];
}

export function rgbDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

function median(values: number[]): number {
  values.sort((x, y) => x - y);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

function medianRgb(image: RgbImage, pixels: readonly number[]): Rgb {
  const plane = image.height * image.width;
  const channel = (c: number) => median(pixels.map((p) => image.data[c * plane + p]));
  return [channel(0), channel(1), channel(2)];
}

function estimateBackground(image: RgbImage): Background {
  const { height, width } = image;
  const ring = Math.min(BORDER_RING, Math.floor(Math.min(height, width) / 2));
  const border: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y < ring || y >= height - ring || x < ring || x >= width - ring) border.push(y * width + x);
    }
  }
  const rgb = medianRgb(image, border);
  const agreeing = border.filter((p) => rgbDistance(pixelRgb(image, p), rgb) <= BORDER_TOLERANCE).length;
  return { rgb, agreement: agreeing / border.length };
}

/** The 8-connected components of `mask`, largest first, as pixel index lists. */
function components(mask: Uint8Array, height: number, width: number): number[][] {
  const label = new Int32Array(mask.length).fill(-1);
  const found: number[][] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || label[start] !== -1) continue;
    const pixels = [start];
    label[start] = found.length;
    for (let i = 0; i < pixels.length; i++) {
      const y = Math.floor(pixels[i] / width);
      const x = pixels[i] - y * width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const ny = y + dy;
          const nx = x + dx;
          if (ny < 0 || ny >= height || nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] === 1 && label[q] === -1) {
            label[q] = found.length;
            pixels.push(q);
          }
        }
      }
    }
    found.push(pixels);
  }
  return found.sort((a, b) => b.length - a.length);
}

function thresholdMask(image: RgbImage, background: Rgb, threshold: number): Uint8Array {
  const plane = image.height * image.width;
  const mask = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) mask[p] = rgbDistance(pixelRgb(image, p), background) > threshold ? 1 : 0;
  return mask;
}

/** Pixels of `blob` whose four neighbours are in it too; the blob itself when erosion leaves too few. */
function interior(blob: readonly number[], height: number, width: number): readonly number[] {
  const inBlob = new Uint8Array(height * width);
  for (const p of blob) inBlob[p] = 1;
  const inner = blob.filter((p) => {
    const y = Math.floor(p / width);
    const x = p - y * width;
    return (
      y > 0 && y < height - 1 && x > 0 && x < width - 1 &&
      inBlob[p - 1] === 1 && inBlob[p + 1] === 1 && inBlob[p - width] === 1 && inBlob[p + width] === 1
    );
  });
  return inner.length >= 3 ? inner : blob;
}

/**
 * Estimated fraction of each pixel the shape covers: 1 inside the blob's interior (whatever the style
 * paints there), elsewhere the pixel's position between background and shape colour, clamped to
 * [0,1]. Pixels outside the blob's bounding box grown by two pixels count 0, so stray specks add no area.
 */
export function coverageMap(image: RgbImage, region: ShapeRegion): Float32Array {
  const { height, width } = image;
  const plane = height * width;
  const coverage = new Float32Array(plane);
  const towardShape = [0, 1, 2].map((c) => region.rgb[c] - region.background.rgb[c]);
  const contrast = towardShape.reduce((s, d) => s + d * d, 0);
  const inner = new Set(interior(blobPixels(region.mask), height, width));
  for (let y = Math.max(region.top - 2, 0); y <= Math.min(region.bottom + 2, height - 1); y++) {
    for (let x = Math.max(region.left - 2, 0); x <= Math.min(region.right + 2, width - 1); x++) {
      const p = y * width + x;
      if (inner.has(p)) {
        coverage[p] = 1;
        continue;
      }
      let projection = 0;
      for (let c = 0; c < 3; c++) projection += (image.data[c * plane + p] - region.background.rgb[c]) * towardShape[c];
      coverage[p] = Math.min(Math.max(projection / contrast, 0), 1);
    }
  }
  return coverage;
}

function blobPixels(mask: Uint8Array): number[] {
  const pixels: number[] = [];
  mask.forEach((m, p) => {
    if (m === 1) pixels.push(p);
  });
  return pixels;
}

/** The shape of the image, or null when no blob stands out from the background. */
export function segmentShape(image: RgbImage, minArea: number): ShapeRegion | null {
  const { height, width } = image;
  const background = estimateBackground(image);
  const seeds = components(thresholdMask(image, background.rgb, SEED_THRESHOLD), height, width);
  if (seeds.length === 0 || seeds[0].length < minArea) return null;
  const rgb = medianRgb(image, interior(seeds[0], height, width));

  // Re-threshold at a fraction of the shape's own contrast, so the blob's edge sits where coverage is
  // about half whatever the colours: extents then compare across backgrounds and styles.
  const edgeThreshold = Math.max(SEED_THRESHOLD, EDGE_FRACTION * rgbDistance(rgb, background.rgb));
  const blobs = components(thresholdMask(image, background.rgb, edgeThreshold), height, width);
  if (blobs.length === 0 || blobs[0].length < minArea) return null;
  const blob = blobs[0];
  const mask = new Uint8Array(height * width);
  let [top, bottom, left, right] = [height, -1, width, -1];
  for (const p of blob) {
    mask[p] = 1;
    const y = Math.floor(p / width);
    const x = p - y * width;
    top = Math.min(top, y);
    bottom = Math.max(bottom, y);
    left = Math.min(left, x);
    right = Math.max(right, x);
  }
  const strayPixels = blobs.slice(1).reduce((n, b) => n + b.length, 0);
  return { background, rgb, mask, area: blob.length, stray: strayPixels / blob.length, top, bottom, left, right };
}
