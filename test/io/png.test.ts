import { decode, encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { decodePng, encodePng, PngError, type RgbImage } from "../../src/io/png.ts";

/** A 3x5 image whose every value is distinct, so a channel or axis mix-up shows. */
const gradient = (): RgbImage => {
  const [height, width] = [3, 5];
  const data = new Float32Array(3 * height * width).map((_, i) => i / (3 * height * width - 1));
  return { data, height, width };
};

describe("PNG", () => {
  it("round-trips the canonical [3,H,W] image to 8-bit precision", () => {
    const image = gradient();
    const back = decodePng(encodePng(image));
    expect([back.height, back.width]).toEqual([3, 5]);
    back.data.forEach((v, i) => expect(Math.abs(v - image.data[i])).toBeLessThanOrEqual(0.5 / 255 + 1e-6));
  });

  it("writes channel c of pixel (y, x) from data[c*H*W + y*W + x]", () => {
    const image = gradient();
    const raw = decode(encodePng(image)).data;
    // pixel (y=1, x=2), green channel
    expect(raw[(1 * 5 + 2) * 3 + 1]).toBe(Math.round(image.data[15 + 1 * 5 + 2] * 255));
  });

  it("clamps out-of-range values and NaN", () => {
    const data = new Float32Array([-0.5, 2, Number.NaN]);
    expect(Array.from(decodePng(encodePng({ data, height: 1, width: 1 })).data)).toEqual([0, 1, 0]);
  });

  it("decodes grey, grey+alpha, RGBA and 16-bit PNGs", () => {
    const grey = decodePng(encode({ width: 2, height: 1, data: new Uint8Array([0, 255]), channels: 1, depth: 8 }));
    expect(Array.from(grey.data)).toEqual([0, 1, 0, 1, 0, 1]);
    const greyAlpha = decodePng(encode({ width: 1, height: 1, data: new Uint8Array([51, 7]), channels: 2, depth: 8 }));
    expect(Array.from(greyAlpha.data)).toEqual([0.2, 0.2, 0.2].map(Math.fround));
    const rgba = decodePng(encode({ width: 1, height: 1, data: new Uint8Array([255, 0, 51, 9]), channels: 4, depth: 8 }));
    expect(Array.from(rgba.data)).toEqual([1, 0, 0.2].map(Math.fround));
    const deep = decodePng(encode({ width: 1, height: 1, data: new Uint16Array([65535, 0, 13107]), channels: 3, depth: 16 }));
    expect(Array.from(deep.data)).toEqual([1, 0, 0.2].map(Math.fround));
  });

  it("refuses bad bytes and inconsistent images with a PngError naming the source", () => {
    expect(() => decodePng(new Uint8Array([1, 2, 3]), "samples/bad.png")).toThrow(PngError);
    expect(() => decodePng(new Uint8Array([1, 2, 3]), "samples/bad.png")).toThrow(/samples\/bad\.png/);
    expect(() => encodePng({ data: new Float32Array(5), height: 1, width: 2 })).toThrow(/expected 6 values for \[3,1,2\], got 5/);
    expect(() => encodePng({ data: new Float32Array(0), height: 0, width: 2 })).toThrow(PngError);
  });
});
