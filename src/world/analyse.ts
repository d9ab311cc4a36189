/**
 * The alignment analyser (the GenEval analogue of the shapes world): reads an image alone and says
 * which background, colour, shape, size and position it shows, then compares that with a prompt.
 *
 * Classical and style-blind by construction:
 * - background: median of the border pixels, nearest neutral palette colour;
 * - colour: median of the shape's interior reduced to its hue vector (c - min) / (max - min), which is
 *   unchanged by shading, dark outlines, highlights and stripes (they only scale the colour or mix it
 *   with grey), then the nearest palette hue;
 * - shape: analysis by synthesis on the blob's estimated pixel coverage: each shape is placed where the
 *   coverage's area and centroid put it, its exact pixel coverage is computed there, and the closest
 *   wins (pixelisation is modelled, which tells a small circle from a small square at 8 pixels);
 * - size: the fitted radius against the geometric mean of the renderer's small and large radii;
 * - position: horizontal centre of the bounding box in thirds (with the renderer's centres at 0.28/0.5/0.72).
 * Any step that finds nothing credible (noisy border, no blob, clutter, grey blob, unknown silhouette)
 * reports null for what it could not decide, so blank and noise images are never aligned.
 */
import type { RgbImage } from "../io/png.ts";
import { pixelCoverage, unitMoments } from "./geometry.ts";
import { coverageMap, rgbDistance, segmentShape } from "./segment.ts";
import {
  BACKGROUND_RGB,
  BACKGROUNDS,
  COLOUR_RGB,
  COLOURS,
  SHAPES,
  SIZE_RADIUS,
  type Background,
  type Colour,
  type Position,
  type Rgb,
  type ShapeAttributes,
  type ShapeKind,
  type Size,
} from "./vocabulary.ts";

interface ImageAnalysis {
  readonly background: Background | null;
  readonly colour: Colour | null;
  readonly shape: ShapeKind | null;
  readonly size: Size | null;
  readonly position: Position | null;
  /** Why something is null, for reports and debugging; null when everything was decided. */
  readonly problem: string | null;
}

interface Alignment {
  /** Every attribute matches the prompt. */
  readonly aligned: boolean;
  readonly background: boolean;
  readonly colour: boolean;
  readonly shape: boolean;
  readonly size: boolean;
  readonly position: boolean;
  readonly found: ImageAnalysis;
}

const MIN_BORDER_AGREEMENT = 0.6;
const BACKGROUND_TOLERANCE = 0.2;
const MIN_AREA_FRACTION = 0.004;
const MAX_STRAY = 0.25;
const MIN_SATURATION = 0.15;
const MAX_HUE_DISTANCE = 0.45;
/** Largest mismatch (sum |observed - model coverage| over the shape's area) still accepted as that shape. */
const MAX_FIT_ERROR = 0.5;
const LEFT_OF = 0.39;
const RIGHT_OF = 0.61;
/** Radius fractions below this are small: the geometric mean of the renderer's small and large radii. */
const SMALL_BELOW = Math.sqrt(SIZE_RADIUS.small * SIZE_RADIUS.large);

function nearest<K extends string>(keys: readonly K[], distance: (k: K) => number): { key: K; distance: number } {
  return keys
    .map((key) => ({ key, distance: distance(key) }))
    .reduce((best, candidate) => (candidate.distance < best.distance ? candidate : best));
}

function hueVector(rgb: Rgb): Rgb {
  const lo = Math.min(...rgb);
  const span = Math.max(...rgb) - lo;
  return [(rgb[0] - lo) / span, (rgb[1] - lo) / span, (rgb[2] - lo) / span];
}

function classifyColour(rgb: Rgb): Colour | null {
  if (Math.max(...rgb) - Math.min(...rgb) < MIN_SATURATION) return null;
  const hue = hueVector(rgb);
  const best = nearest(COLOURS, (c) => rgbDistance(hue, hueVector(COLOUR_RGB[c])));
  return best.distance <= MAX_HUE_DISTANCE ? best.key : null;
}

interface ShapeFit {
  readonly shape: ShapeKind;
  /** Fitted radius in pixels. */
  readonly radius: number;
  /** Sum of |observed - model| coverage over the observed area. */
  readonly error: number;
}

/**
 * Places each shape where the observed coverage's area and centroid say it must be, renders its exact
 * pixel coverage there, and keeps the shape whose coverage differs least from the observation.
 */
function fitShape(coverage: Float32Array, width: number): ShapeFit {
  let area = 0;
  let sumX = 0;
  let sumY = 0;
  coverage.forEach((c, p) => {
    const y = Math.floor(p / width);
    area += c;
    sumX += c * (p - y * width + 0.5);
    sumY += c * (y + 0.5);
  });
  const [meanX, meanY] = [sumX / area, sumY / area];
  const fits = SHAPES.map((shape) => {
    const unit = unitMoments(shape);
    const radius = Math.sqrt(area / unit.area);
    const cx = meanX - unit.centroidU * radius;
    const cy = meanY - unit.centroidV * radius;
    const reach = Math.ceil(radius + 2);
    let mismatch = 0;
    coverage.forEach((observed, p) => {
      const y = Math.floor(p / width);
      const x = p - y * width;
      const near = Math.abs(x + 0.5 - cx) <= reach && Math.abs(y + 0.5 - cy) <= reach;
      mismatch += Math.abs(observed - (near ? pixelCoverage(shape, cx, cy, radius, x, y) : 0));
    });
    return { shape, radius, error: mismatch / area };
  });
  return fits.reduce((best, candidate) => (candidate.error < best.error ? candidate : best));
}

function classifyBackground(rgb: Rgb): Background | null {
  const best = nearest(BACKGROUNDS, (b) => rgbDistance(rgb, BACKGROUND_RGB[b]));
  return best.distance <= BACKGROUND_TOLERANCE ? best.key : null;
}

function positionOf(centreX: number): Position {
  return centreX < LEFT_OF ? "left" : centreX > RIGHT_OF ? "right" : "center";
}

const NOTHING = { background: null, colour: null, shape: null, size: null, position: null } as const;

export function analyseImage(image: RgbImage): ImageAnalysis {
  const { height, width } = image;
  const region = segmentShape(image, MIN_AREA_FRACTION * height * width);
  if (region === null) return { ...NOTHING, problem: "no shape stands out from the background" };
  if (region.background.agreement < MIN_BORDER_AGREEMENT) {
    const agreement = region.background.agreement.toFixed(2);
    return { ...NOTHING, problem: `the border is not a uniform background (agreement ${agreement})` };
  }
  const background = classifyBackground(region.background.rgb);
  const colour = classifyColour(region.rgb);
  const position = positionOf((region.left + region.right + 1) / 2 / width);
  if (region.stray > MAX_STRAY) {
    return { background, colour, shape: null, size: null, position, problem: `scattered foreground (${region.stray.toFixed(2)} of the shape's area lies outside it)` };
  }

  const fit = fitShape(coverageMap(image, region), width);
  const shape = fit.error <= MAX_FIT_ERROR ? fit.shape : null;
  const size: Size = fit.radius / width < SMALL_BELOW ? "small" : "large";

  const problems = [
    background === null ? "background is not a palette colour" : "",
    colour === null ? "shape colour is not a palette colour" : "",
    shape === null ? `silhouette matches no shape (closest ${fit.shape}, mismatch ${fit.error.toFixed(2)})` : "",
  ].filter((p) => p !== "");
  return { background, colour, shape, size: shape === null ? null : size, position, problem: problems.length > 0 ? problems.join("; ") : null };
}

export function checkAlignment(image: RgbImage, prompt: ShapeAttributes): Alignment {
  const found = analyseImage(image);
  const background = found.background === prompt.background;
  const colour = found.colour === prompt.colour;
  const shape = found.shape === prompt.shape;
  const size = found.size === prompt.size;
  const position = found.position === prompt.position;
  return { aligned: background && colour && shape && size && position, background, colour, shape, size, position, found };
}
