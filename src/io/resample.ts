import type { RgbImage } from "./png.ts";

/** A region of an image in pixel coordinates (x1, y1 exclusive; fractional edges allowed). */
interface Region {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * Bilinear resampling of `region` to outH x outW planes (pixel centres aligned, as OpenCV's resize and
 * torchvision's crops), optionally mirrored left-right.
 */
export const resampleBilinear = (image: RgbImage, region: Region, outH: number, outW: number, mirror = false): Float32Array => {
  const { data, height, width } = image;
  const out = new Float32Array(3 * outH * outW);
  const sy = (region.y1 - region.y0) / outH;
  const sx = (region.x1 - region.x0) / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max(region.y0 + (y + 0.5) * sy - 0.5, 0), height - 1);
    const ya = Math.floor(fy);
    const yb = Math.min(ya + 1, height - 1);
    const wy = fy - ya;
    for (let x = 0; x < outW; x++) {
      const u = mirror ? outW - 1 - x : x;
      const fx = Math.min(Math.max(region.x0 + (u + 0.5) * sx - 0.5, 0), width - 1);
      const xa = Math.floor(fx);
      const xb = Math.min(xa + 1, width - 1);
      const wx = fx - xa;
      for (let c = 0; c < 3; c++) {
        const p = c * height * width;
        const top = data[p + ya * width + xa]! * (1 - wx) + data[p + ya * width + xb]! * wx;
        const bottom = data[p + yb * width + xa]! * (1 - wx) + data[p + yb * width + xb]! * wx;
        out[c * outH * outW + y * outW + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return out;
};
