/**
 * Image grids for reports: rows x columns of equally sized images separated by a small gap,
 * optionally upscaled by an integer factor (nearest neighbour, so pixels stay crisp).
 */
import { Schema } from "effect";
import { encodePng, type RgbImage } from "../io/png.ts";

export interface GridOptions {
  /** Gap between cells and around the border, in output pixels (default 2). */
  readonly gap?: number;
  /** Integer upscaling factor applied to every image (default 1). */
  readonly scale?: number;
  /** RGB in [0,1] of the gaps and of empty cells in short rows (default white). */
  readonly gapColour?: readonly [number, number, number];
}

/** Grid input that cannot be laid out. */
export class GridError extends Schema.TaggedError<GridError>()("GridError", {
  reason: Schema.String,
}) {
  override get message() {
    return `cannot make image grid: ${this.reason}`;
  }
}

export function composeGrid(rows: ReadonlyArray<ReadonlyArray<RgbImage>>, options: GridOptions = {}): RgbImage {
  const gap = options.gap ?? 2;
  const scale = options.scale ?? 1;
  const gapColour = options.gapColour ?? [1, 1, 1];
  if (!Number.isInteger(scale) || scale < 1) throw new GridError({ reason: `scale must be a positive integer, got ${scale}` });
  if (!Number.isInteger(gap) || gap < 0) throw new GridError({ reason: `gap must be a non-negative integer, got ${gap}` });
  const first = rows.find((r) => r.length > 0)?.[0];
  if (first === undefined) throw new GridError({ reason: "no images given" });
  rows.forEach((row, r) =>
    row.forEach((image, c) => {
      if (image.height !== first.height || image.width !== first.width) {
        throw new GridError({
          reason: `image at row ${r}, column ${c} is ${image.height}x${image.width}; expected ${first.height}x${first.width} like the first`,
        });
      }
    }),
  );

  const cellH = first.height * scale;
  const cellW = first.width * scale;
  const columns = Math.max(...rows.map((r) => r.length));
  const height = rows.length * (cellH + gap) + gap;
  const width = columns * (cellW + gap) + gap;
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) data.fill(gapColour[c], c * plane, (c + 1) * plane);

  rows.forEach((row, r) =>
    row.forEach((image, col) => {
      const top = gap + r * (cellH + gap);
      const left = gap + col * (cellW + gap);
      const sourcePlane = image.height * image.width;
      for (let y = 0; y < cellH; y++) {
        const sourceRow = Math.floor(y / scale) * image.width;
        const targetRow = (top + y) * width + left;
        for (let x = 0; x < cellW; x++) {
          const source = sourceRow + Math.floor(x / scale);
          for (let c = 0; c < 3; c++) data[c * plane + targetRow + x] = image.data[c * sourcePlane + source];
        }
      }
    }),
  );
  return { data, height, width };
}

/** The grid as PNG bytes. */
export function gridPng(rows: ReadonlyArray<ReadonlyArray<RgbImage>>, options?: GridOptions): Uint8Array {
  return encodePng(composeGrid(rows, options), "image grid");
}
