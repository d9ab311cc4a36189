/**
 * Renderers of the shapes world. One geometry, three looks:
 *   base    - flat colour on a flat background: what the generator is pretrained on;
 *   shaded  - dark outline, radial shading with a specular highlight, background vignette
 *             (the "reference" style, standing in for the paper's high-quality references);
 *   striped - diagonal two-tone stripes on the shape, vertical background gradient
 *             (a second reference style, to show that the reward follows whichever style is given).
 * The seed jitters position and size (and the style's own parameters), so renders of one prompt differ;
 * geometry is drawn from the RNG first, so one seed gives the same placement in every style.
 * The outline is drawn inside the silhouette, so styles never change the shape's extent.
 */
import type { RgbImage } from "../io/png.ts";
import type { Rng } from "../util/prng.ts";
import { signedDistance } from "./geometry.ts";
import {
  BACKGROUND_RGB,
  COLOUR_RGB,
  POSITION_X,
  SIZE_RADIUS,
  type Rgb,
  type ShapeAttributes,
} from "./vocabulary.ts";

export const STYLES = ["base", "shaded", "striped"] as const;
export type StyleName = (typeof STYLES)[number];
export type ReferenceStyle = Exclude<StyleName, "base">;
export const REFERENCE_STYLES: readonly ReferenceStyle[] = STYLES.filter((s): s is ReferenceStyle => s !== "base");

interface RenderOptions {
  /** Side of the square image in pixels (default 32). */
  readonly size?: number;
}

/** Where the shape lands in one render, in pixels. */
interface Placement {
  readonly cx: number;
  readonly cy: number;
  readonly radius: number;
}

/** Paints into `out`; x, y are image coordinates in [0,1]. */
interface Painter {
  background(x: number, y: number, out: number[]): void;
  /** u, v: radius units from the shape centre; depth: pixels inside the silhouette edge. */
  fill(u: number, v: number, depth: number, x: number, y: number, out: number[]): void;
}

const POSITION_JITTER = 0.02;
const SIZE_JITTER = 0.06;
/** Pixels whose centre lies within this band around the edge (or the outline) are supersampled. */
const EDGE_BAND_OUTSIDE = 0.75;
const EDGE_BAND_INSIDE = 2;
const SUBSAMPLES = 4;

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

const jitter = (rng: Rng, amplitude: number): number => (2 * rng.next() - 1) * amplitude;

function place(a: ShapeAttributes, rng: Rng, size: number): Placement {
  const cx = (POSITION_X[a.position] + jitter(rng, POSITION_JITTER)) * size;
  const cy = (0.5 + jitter(rng, POSITION_JITTER)) * size;
  const radius = SIZE_RADIUS[a.size] * (1 + jitter(rng, SIZE_JITTER)) * size;
  return { cx, cy, radius };
}

function flatPainter(colour: Rgb, background: Rgb): Painter {
  return {
    background: (_x, _y, out) => {
      out[0] = background[0];
      out[1] = background[1];
      out[2] = background[2];
    },
    fill: (_u, _v, _depth, _x, _y, out) => {
      out[0] = colour[0];
      out[1] = colour[1];
      out[2] = colour[2];
    },
  };
}

/** Outline width as a fraction of the radius: about 1 px on a large shape at 32 px, half that on a small one. */
const OUTLINE_WIDTH = 0.13;
const OUTLINE_DARKNESS = 0.35;

function shadedPainter(colour: Rgb, background: Rgb, rng: Rng, radius: number): Painter {
  const outlinePixels = OUTLINE_WIDTH * radius;
  const highlightU = -0.35 + jitter(rng, 0.1);
  const highlightV = -0.4 + jitter(rng, 0.1);
  return {
    background: (x, y, out) => {
      const vignette = 1 - 0.16 * ((x - 0.5) ** 2 + (y - 0.5) ** 2);
      for (let c = 0; c < 3; c++) out[c] = background[c] * vignette;
    },
    fill: (u, v, depth, _x, _y, out) => {
      if (depth < outlinePixels) {
        for (let c = 0; c < 3; c++) out[c] = colour[c] * OUTLINE_DARKNESS;
        return;
      }
      const t = Math.hypot(u - highlightU, v - highlightV);
      const shade = Math.max(1.12 - 0.42 * t, 0.45);
      const specular = 0.55 * Math.max(0, 1 - t / 0.3);
      for (let c = 0; c < 3; c++) out[c] = clamp01(colour[c] * shade * (1 - specular) + specular);
    },
  };
}

function stripedPainter(colour: Rgb, background: Rgb, rng: Rng, size: number): Painter {
  const angle = Math.PI / 4 + jitter(rng, 0.25);
  const periodPixels = 0.105 * size;
  const phase = rng.next();
  const [dirX, dirY] = [Math.cos(angle) * (size / periodPixels), Math.sin(angle) * (size / periodPixels)];
  return {
    background: (_x, y, out) => {
      for (let c = 0; c < 3; c++) out[c] = clamp01(background[c] + 0.07 - 0.14 * y);
    },
    fill: (_u, _v, _depth, x, y, out) => {
      const stripe = 0.5 + 0.5 * Math.sin(2 * Math.PI * (x * dirX + y * dirY + phase));
      const shade = 0.6 + 0.4 * stripe;
      for (let c = 0; c < 3; c++) out[c] = colour[c] * shade;
    },
  };
}

function painterFor(style: StyleName, a: ShapeAttributes, rng: Rng, size: number, radius: number): Painter {
  const colour = COLOUR_RGB[a.colour];
  const background = BACKGROUND_RGB[a.background];
  switch (style) {
    case "base":
      return flatPainter(colour, background);
    case "shaded":
      return shadedPainter(colour, background, rng, radius);
    case "striped":
      return stripedPainter(colour, background, rng, size);
  }
}

/** Renders a prompt in a style; draws geometry jitter from `rng` first, then the style's parameters. */
export function render(a: ShapeAttributes, style: StyleName, rng: Rng, options: RenderOptions = {}): RgbImage {
  const size = options.size ?? 32;
  const { cx, cy, radius } = place(a, rng, size);
  const painter = painterFor(style, a, rng, size, radius);
  const plane = size * size;
  const data = new Float32Array(3 * plane);
  const sample = [0, 0, 0];
  const sum = [0, 0, 0];

  // Adds the colour at pixel coordinates (px, py) to `sum`.
  const accumulate = (px: number, py: number, distance: number): void => {
    const u = (px - cx) / radius;
    const v = (py - cy) / radius;
    if (distance < 0) painter.fill(u, v, -distance, px / size, py / size, sample);
    else painter.background(px / size, py / size, sample);
    sum[0] += sample[0];
    sum[1] += sample[1];
    sum[2] += sample[2];
  };
  const distanceAt = (px: number, py: number): number =>
    signedDistance(a.shape, (px - cx) / radius, (py - cy) / radius) * radius;

  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      sum[0] = sum[1] = sum[2] = 0;
      const centreDistance = distanceAt(col + 0.5, row + 0.5);
      let samples = 1;
      if (centreDistance > EDGE_BAND_OUTSIDE || centreDistance < -EDGE_BAND_INSIDE) {
        accumulate(col + 0.5, row + 0.5, centreDistance);
      } else {
        samples = SUBSAMPLES * SUBSAMPLES;
        for (let sy = 0; sy < SUBSAMPLES; sy++) {
          for (let sx = 0; sx < SUBSAMPLES; sx++) {
            const px = col + (sx + 0.5) / SUBSAMPLES;
            const py = row + (sy + 0.5) / SUBSAMPLES;
            accumulate(px, py, distanceAt(px, py));
          }
        }
      }
      const p = row * size + col;
      for (let c = 0; c < 3; c++) data[c * plane + p] = sum[c] / samples;
    }
  }
  return { data, height: size, width: size };
}

export function renderBase(a: ShapeAttributes, rng: Rng, options?: RenderOptions): RgbImage {
  return render(a, "base", rng, options);
}

export function renderReference(
  a: ShapeAttributes,
  rng: Rng,
  style: ReferenceStyle = "shaded",
  options?: RenderOptions,
): RgbImage {
  return render(a, style, rng, options);
}
