/**
 * Shape silhouettes as signed distance functions in "radius units": the shape is centred at (0,0),
 * fits in [-1,1]^2, and the function is negative inside. Scaling by the radius in pixels gives the
 * distance in pixels, which the renderers use for anti-aliasing and outlines.
 */
import type { ShapeKind } from "./vocabulary.ts";

function box(u: number, v: number, halfWidth: number, halfHeight: number): number {
  const dx = Math.abs(u) - halfWidth;
  const dy = Math.abs(v) - halfHeight;
  return Math.hypot(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0);
}

/** An upward triangle whose bounding box is [-1,1] x [-0.95,0.9]. */
const TRIANGLE: ReadonlyArray<readonly [number, number]> = [
  [0, -0.95],
  [1, 0.9],
  [-1, 0.9],
];

/** Exact signed distance to a simple polygon (winding-number sign), after Inigo Quilez. */
function polygon(u: number, v: number, vertices: ReadonlyArray<readonly [number, number]>): number {
  let best = Infinity;
  let sign = 1;
  for (let i = 0, j = vertices.length - 1; i < vertices.length; j = i, i++) {
    const [xi, yi] = vertices[i];
    const [xj, yj] = vertices[j];
    const ex = xj - xi;
    const ey = yj - yi;
    const wx = u - xi;
    const wy = v - yi;
    const t = Math.min(Math.max((wx * ex + wy * ey) / (ex * ex + ey * ey), 0), 1);
    best = Math.min(best, (wx - ex * t) ** 2 + (wy - ey * t) ** 2);
    const c1 = v >= yi;
    const c2 = v < yj;
    const c3 = ex * wy > ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) sign = -sign;
  }
  return sign * Math.sqrt(best);
}

const CROSS_ARM = 0.32;

export function signedDistance(shape: ShapeKind, u: number, v: number): number {
  switch (shape) {
    case "circle":
      return Math.hypot(u, v) - 1;
    case "square":
      return box(u, v, 0.86, 0.86);
    case "triangle":
      return polygon(u, v, TRIANGLE);
    case "cross":
      return Math.min(box(u, v, 0.95, CROSS_ARM), box(u, v, CROSS_ARM, 0.95));
  }
}

/** Area and centroid of a shape in radius units, so a blob's measured area and centroid give its placement. */
interface UnitMoments {
  readonly area: number;
  readonly centroidU: number;
  readonly centroidV: number;
}

const MOMENT_GRID = 256;

function measureMoments(shape: ShapeKind): UnitMoments {
  let count = 0;
  let sumU = 0;
  let sumV = 0;
  for (let i = 0; i < MOMENT_GRID; i++) {
    for (let j = 0; j < MOMENT_GRID; j++) {
      const u = -1 + (2 * (j + 0.5)) / MOMENT_GRID;
      const v = -1 + (2 * (i + 0.5)) / MOMENT_GRID;
      if (signedDistance(shape, u, v) < 0) {
        count++;
        sumU += u;
        sumV += v;
      }
    }
  }
  const cell = (2 / MOMENT_GRID) ** 2;
  return { area: count * cell, centroidU: sumU / count, centroidV: sumV / count };
}

const momentCache = new Map<ShapeKind, UnitMoments>();

export function unitMoments(shape: ShapeKind): UnitMoments {
  let moments = momentCache.get(shape);
  if (moments === undefined) {
    moments = measureMoments(shape);
    momentCache.set(shape, moments);
  }
  return moments;
}

const COVERAGE_SUBSAMPLES = 4;

/** Fraction of pixel (col, row) covered by the shape centred at (cx, cy) pixels with `radius` pixels. */
export function pixelCoverage(shape: ShapeKind, cx: number, cy: number, radius: number, col: number, row: number): number {
  // A pixel centre further than a pixel diagonal from the edge is wholly in or out.
  const centreDistance = signedDistance(shape, (col + 0.5 - cx) / radius, (row + 0.5 - cy) / radius) * radius;
  if (centreDistance > Math.SQRT1_2) return 0;
  if (centreDistance < -Math.SQRT1_2) return 1;
  let inside = 0;
  for (let sy = 0; sy < COVERAGE_SUBSAMPLES; sy++) {
    for (let sx = 0; sx < COVERAGE_SUBSAMPLES; sx++) {
      const u = (col + (sx + 0.5) / COVERAGE_SUBSAMPLES - cx) / radius;
      const v = (row + (sy + 0.5) / COVERAGE_SUBSAMPLES - cy) / radius;
      if (signedDistance(shape, u, v) < 0) inside++;
    }
  }
  return inside / (COVERAGE_SUBSAMPLES * COVERAGE_SUBSAMPLES);
}
