import { describe, expect, it } from "vitest";
import { ALL_PROMPTS, formatPrompt, isHeldOut, parsePrompt, PromptParseError, promptsOf } from "../../src/world/prompt.ts";
import type { ShapeAttributes } from "../../src/world/vocabulary.ts";

describe("prompt grammar", () => {
  it("formats the documented sentence and parses every prompt back", () => {
    const example = { colour: "red", shape: "circle", size: "large", position: "left", background: "white" } as const;
    expect(formatPrompt(example)).toBe("a large red circle on the left, white background");
    expect(ALL_PROMPTS).toHaveLength(432);
    for (const a of ALL_PROMPTS) expect(parsePrompt(formatPrompt(a))).toEqual(a);
    expect(new Set(ALL_PROMPTS.map(formatPrompt)).size).toBe(432);
  });

  it("accepts free word order and case", () => {
    expect(parsePrompt("White background: a RED circle, large, in the center")).toEqual({
      colour: "red", shape: "circle", size: "large", position: "center", background: "white",
    });
  });

  it("names the unknown, repeated or missing word", () => {
    const error = (text: string) => {
      try {
        parsePrompt(text);
      } catch (e) {
        return e;
      }
      throw new Error("parsed");
    };
    const unknown = error("a large pink circle on the left, white background");
    expect(unknown).toBeInstanceOf(PromptParseError);
    expect(unknown).toMatchObject({ word: "pink" });
    expect(String((unknown as PromptParseError).message)).toMatch(/'pink'.*unknown word.*colour: red\/orange/);
    expect(error("a large red blue circle on the left, white background")).toMatchObject({ word: "blue" });
    expect((error("a large red circle, white background") as PromptParseError).message).toMatch(/missing position/);
  });
});

describe("train / held-out split", () => {
  const train = promptsOf("train");
  const heldOut = promptsOf("heldout");

  it("holds out one prompt in six, disjoint from training", () => {
    expect(heldOut).toHaveLength(72);
    expect(train).toHaveLength(360);
    const trainText = new Set(train.map(formatPrompt));
    for (const a of heldOut) {
      expect(isHeldOut(a)).toBe(true);
      expect(trainText.has(formatPrompt(a))).toBe(false);
    }
  });

  it("still trains on every pair of attribute values", () => {
    const keys = ["colour", "shape", "size", "position", "background"] as const;
    const pairsOf = (prompts: readonly ShapeAttributes[]) =>
      new Set(prompts.flatMap((a) => keys.flatMap((k1, i) => keys.slice(i + 1).map((k2) => `${k1}=${a[k1]},${k2}=${a[k2]}`))));
    const trainPairs = pairsOf(train);
    for (const pair of pairsOf(ALL_PROMPTS)) expect(trainPairs.has(pair)).toBe(true);
  });
});
