/**
 * Image files as users have them (PNG, JPEG, WebP, any size) decoded with sharp (libvips) into the project's
 * canonical image, optionally resized and centre-cropped to a square: the backbone's input. Colour is
 * converted to sRGB and alpha dropped, as the backbone sees opaque RGB.
 */
import { Schema } from "effect";
import sharp from "sharp";
import type { RgbImage } from "./png.ts";

/** The formats accepted, as sharp names them; a file's extension decides whether a folder listing includes it. */
const IMAGE_FORMATS = ["png", "jpeg", "webp"] as const;
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"] as const;

export class ImageFileError extends Schema.TaggedError<ImageFileError>()("ImageFileError", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `image ${this.file}: ${this.reason}`;
  }
}

/** Interleaved 8-bit RGB (HWC) -> planar [3,H,W] in [0,1]. */
const planar = (rgb: Uint8Array, height: number, width: number): RgbImage => {
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) data[c * plane + p] = rgb[3 * p + c]! / 255;
  return { data, height, width };
};

/**
 * Decodes `bytes`; with `square`, resizes the shorter side to it (Lanczos, as libvips does by default) and crops
 * the centre, the usual way a reference photo of any aspect becomes a backbone input.
 */
export const decodeImageFile = async (bytes: Uint8Array, file: string, square?: number): Promise<RgbImage> => {
  let format: string | undefined;
  try {
    format = (await sharp(bytes).metadata()).format;
  } catch (cause) {
    throw new ImageFileError({ file, reason: `is not a readable image (${(cause as Error).message})` });
  }
  if (!IMAGE_FORMATS.includes(format as (typeof IMAGE_FORMATS)[number])) {
    throw new ImageFileError({ file, reason: `is ${format ?? "an unknown format"}; expected one of ${IMAGE_FORMATS.join(", ")}` });
  }
  try {
    let pipeline = sharp(bytes).rotate().toColourspace("srgb").removeAlpha();
    if (square !== undefined) pipeline = pipeline.resize(square, square, { fit: "cover", position: "centre" });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return planar(data, info.height, info.width);
  } catch (cause) {
    throw new ImageFileError({ file, reason: `cannot be decoded as ${format} (${(cause as Error).message})` });
  }
};
