/**
 * The prompt grammar of the shapes world:
 *
 *   "a {size} {colour} {shape} {on the left | in the center | on the right}, {background} background"
 *
 * 6 colours x 4 shapes x 2 sizes x 3 positions x 3 backgrounds = 432 prompts.
 *
 * Train / held-out split: a prompt is held out when the sum of its attribute indices (in the order of
 * the vocabulary arrays) is 0 modulo 6. That holds out exactly 1 prompt in 6 (72), and because fixing
 * any four attributes leaves one colour in six held out, every pair (indeed every four) of attribute
 * values still occurs in training: held-out prompts are new combinations of seen parts.
 */
import { Schema } from "effect";
import {
  BACKGROUNDS,
  COLOURS,
  POSITIONS,
  SHAPES,
  SIZES,
  type Position,
  type ShapeAttributes,
} from "./vocabulary.ts";

/** Prompt text that is not a sentence of the grammar. */
export class PromptParseError extends Schema.TaggedError<PromptParseError>()("PromptParseError", {
  prompt: Schema.String,
  /** The offending word, or "" when a word is missing. */
  word: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    const at = this.word === "" ? "" : ` at '${this.word}'`;
    return `cannot parse prompt "${this.prompt}"${at}: ${this.reason}`;
  }
}

export type PromptSplit = "train" | "heldout";

const POSITION_PHRASE: Readonly<Record<Position, string>> = {
  left: "on the left",
  center: "in the center",
  right: "on the right",
};

const FILLER_WORDS = new Set(["a", "an", "on", "in", "the", "background"]);

type Category = keyof ShapeAttributes;

const CATEGORY_WORDS: ReadonlyArray<readonly [Category, readonly string[]]> = [
  ["size", SIZES],
  ["colour", COLOURS],
  ["shape", SHAPES],
  ["position", POSITIONS],
  ["background", BACKGROUNDS],
];

export function formatPrompt(a: ShapeAttributes): string {
  return `a ${a.size} ${a.colour} ${a.shape} ${POSITION_PHRASE[a.position]}, ${a.background} background`;
}

/** Reads prompt text back into attributes; word order and filler words are free, each attribute once. */
export function parsePrompt(prompt: string): ShapeAttributes {
  const found: Partial<Record<Category, string>> = {};
  for (const word of prompt.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 0)) {
    if (FILLER_WORDS.has(word)) continue;
    const entry = CATEGORY_WORDS.find(([, words]) => words.includes(word));
    if (entry === undefined) {
      const vocabulary = CATEGORY_WORDS.map(([category, words]) => `${category}: ${words.join("/")}`).join("; ");
      throw new PromptParseError({ prompt, word, reason: `unknown word (known words are ${vocabulary})` });
    }
    const [category] = entry;
    if (found[category] !== undefined) {
      throw new PromptParseError({ prompt, word, reason: `a second ${category} word after '${found[category]}'` });
    }
    found[category] = word;
  }
  const missing = CATEGORY_WORDS.map(([category]) => category).filter((c) => found[c] === undefined);
  if (missing.length > 0) {
    throw new PromptParseError({ prompt, word: "", reason: `missing ${missing.join(", ")} word(s)` });
  }
  return found as unknown as ShapeAttributes;
}

function attributeIndexSum(a: ShapeAttributes): number {
  return (
    COLOURS.indexOf(a.colour) +
    SHAPES.indexOf(a.shape) +
    SIZES.indexOf(a.size) +
    POSITIONS.indexOf(a.position) +
    BACKGROUNDS.indexOf(a.background)
  );
}

export function isHeldOut(a: ShapeAttributes): boolean {
  return attributeIndexSum(a) % 6 === 0;
}

function enumerateAll(): readonly ShapeAttributes[] {
  const all: ShapeAttributes[] = [];
  for (const background of BACKGROUNDS)
    for (const position of POSITIONS)
      for (const size of SIZES)
        for (const shape of SHAPES)
          for (const colour of COLOURS) all.push({ colour, shape, size, position, background });
  return all;
}

/** Every prompt of the world in a fixed order (its index is a stable prompt id). */
export const ALL_PROMPTS: readonly ShapeAttributes[] = enumerateAll();

const SPLITS: Readonly<Record<PromptSplit, readonly ShapeAttributes[]>> = {
  train: ALL_PROMPTS.filter((a) => !isHeldOut(a)),
  heldout: ALL_PROMPTS.filter(isHeldOut),
};

export function promptsOf(split: PromptSplit): readonly ShapeAttributes[] {
  return SPLITS[split];
}
