/**
 * Renders short text as an image with a built-in 5x7 bitmap font, so tests and demos of the OCR reward
 * need no system fonts (CI machines may have none). Lower case is drawn as upper case.
 */
import { Schema } from "effect";
import type { RgbImage } from "../io/png.ts";

/**
 * Each glyph is 7 rows top to bottom; each row is one base-32 digit whose 5 bits are the columns,
 * the most significant bit leftmost (e.g. 'v' = 11111, 'h' = 10001).
 */
const glyphs: Readonly<Record<string, string>> = {
  A: "4ahhvhh", B: "uhhuhhu", C: "ehggghe", D: "sihhhis", E: "vgguggv", F: "vgguggg", G: "ehgnhhf",
  H: "hhhvhhh", I: "e44444e", J: "72222ic", K: "hikokih", L: "ggggggv", M: "hrllhhh", N: "hhpljhh",
  O: "ehhhhhe", P: "uhhuggg", Q: "ehhhlid", R: "uhhukih", S: "fgge11u", T: "v444444", U: "hhhhhhe",
  V: "hhhhaa4", W: "hhhllla", X: "hha4ahh", Y: "hha4444", Z: "v1248gv",
  "0": "ehjlphe", "1": "4c4444e", "2": "eh1248v", "3": "v2421he", "4": "26aiv22",
  "5": "vgu11he", "6": "68guhhe", "7": "v124888", "8": "ehhehhe", "9": "ehhf12c",
  " ": "0000000",
};

const glyphWidth = 5;
const glyphHeight = 7;
/** One empty column between characters and three empty rows between lines, in font pixels. */
const advance = glyphWidth + 1;
const lineAdvance = glyphHeight + 3;

const renderableCharacters: readonly string[] = Object.keys(glyphs);

export class TextImageError extends Schema.TaggedError<TextImageError>()("TextImageError", {
  character: Schema.String,
  available: Schema.String,
}) {
  override get message() {
    return `renderText: the built-in font has no glyph for '${this.character}' (it has: ${this.available})`;
  }
}

interface TextImageOptions {
  /** Image pixels per font pixel. */
  readonly scale?: number;
  /** Blank border on every side, in image pixels. */
  readonly margin?: number;
  /** Grey levels in [0,1]. */
  readonly ink?: number;
  readonly paper?: number;
  /**
   * Box-blur radius in image pixels. PP-OCR misreads hard-edged pixel glyphs (A as H, 0 as 8);
   * a radius of 1 softens them into something closer to the print it was trained on.
   */
  readonly blur?: number;
}

/** Dark text on a light background; "\n" starts a new line. */
export const renderText = (text: string, options: TextImageOptions = {}): RgbImage => {
  const { scale = 4, margin = 4 * scale, ink = 0.1, paper = 1, blur = Math.round(scale / 3) } = options;
  const lines = text.toUpperCase().split("\n").map((line) =>
    [...line].map((character) => {
      const glyph = glyphs[character];
      if (glyph === undefined) throw new TextImageError({ character, available: renderableCharacters.join("") });
      return [...glyph].map((digit) => parseInt(digit, 32));
    }),
  );
  const columns = Math.max(1, ...lines.map((line) => line.length * advance - 1));
  const width = columns * scale + 2 * margin;
  const height = (lines.length * lineAdvance - (lineAdvance - glyphHeight)) * scale + 2 * margin;
  const plane = new Float32Array(height * width).fill(paper);
  lines.forEach((line, row) =>
    line.forEach((glyph, index) => {
      for (let gy = 0; gy < glyphHeight; gy++) {
        for (let gx = 0; gx < glyphWidth; gx++) {
          if (!((glyph[gy]! >> (glyphWidth - 1 - gx)) & 1)) continue;
          const x0 = margin + (index * advance + gx) * scale;
          const y0 = margin + (row * lineAdvance + gy) * scale;
          for (let y = y0; y < y0 + scale; y++) plane.fill(ink, y * width + x0, y * width + x0 + scale);
        }
      }
    }),
  );
  const soft = blurRowsTransposed(blurRowsTransposed(plane, height, width, blur), width, height, blur);
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++) data.set(soft, c * soft.length);
  return { data, height, width };
};

/** Mean over a window of 2r+1 along each row, edges clamped, written transposed: two calls blur both axes. */
const blurRowsTransposed = (plane: Float32Array, rows: number, cols: number, r: number): Float32Array => {
  const out = new Float32Array(plane.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let sum = 0;
      for (let k = j - r; k <= j + r; k++) sum += plane[i * cols + Math.min(cols - 1, Math.max(0, k))]!;
      out[j * rows + i] = sum / (2 * r + 1);
    }
  }
  return out;
};
