/**
 * PNG <-> the project's canonical image: Float32Array [3,H,W] (CHW, RGB) with values in [0,1].
 * Encoding writes 8-bit RGB; decoding accepts any PNG fast-png reads (grey, palette, alpha, 16-bit)
 * and drops alpha without compositing, since the project's images are opaque.
 */
import { Schema } from "effect";
import { convertIndexedToRgb, decode, encode } from "fast-png";

/** The canonical image: `data[c * height * width + y * width + x]`, c = 0 red, 1 green, 2 blue. */
export interface RgbImage {
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

/** PNG bytes that cannot be decoded, or an image that cannot be encoded. */
export class PngError extends Schema.TaggedError<PngError>()("PngError", {
  /** A file name or a description of where the bytes came from. */
  source: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `PNG ${this.source}: ${this.reason}`;
  }
}

export function encodePng(image: RgbImage, source = "image"): Uint8Array {
  const { data, height, width } = image;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new PngError({ source, reason: `height and width must be positive integers, got ${height}x${width}` });
  }
  const plane = height * width;
  if (data.length !== 3 * plane) {
    throw new PngError({ source, reason: `expected ${3 * plane} values for [3,${height},${width}], got ${data.length}` });
  }
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[c * plane + p];
      // NaN lands on 0 through the comparison chain rather than poisoning the byte.
      rgb[3 * p + c] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
    }
  }
  return encode({ width, height, data: rgb, channels: 3, depth: 8 });
}

export function decodePng(bytes: Uint8Array, source = "bytes"): RgbImage {
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (cause) {
    throw new PngError({ source, reason: `not a readable PNG (${cause instanceof Error ? cause.message : String(cause)})` });
  }
  const { width, height } = png;
  const indexed = png.palette !== undefined;
  const samples = indexed ? convertIndexedToRgb(png) : png.data;
  const channels = indexed ? samples.length / (width * height) : png.channels;
  const maxValue = indexed ? 255 : 2 ** png.depth - 1;
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  // Grey (+alpha) PNGs have 1-2 channels: every colour reads channel 0; RGB(A) reads channels 0-2.
  const colourChannels = channels >= 3 ? 3 : 1;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      data[c * plane + p] = samples[p * channels + (colourChannels === 3 ? c : 0)] / maxValue;
    }
  }
  return { data, height, width };
}
