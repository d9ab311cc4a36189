/**
 * Prompt files: UTF-8 text, one prompt per line. Blank lines are skipped (a trailing newline is not a prompt);
 * a repeated prompt is an error, since prompts key groups, references and the rollout log.
 */
import { readFileSync } from "node:fs";
import { Schema } from "effect";

class PromptFileError extends Schema.TaggedError<PromptFileError>()("PromptFileError", {
  file: Schema.String,
  /** The pipeline field that named the file, e.g. prompts.train. */
  field: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.field} ${this.file}: ${this.reason}`;
  }
}

export const parsePrompts = (text: string, file: string, field: string): string[] => {
  const prompts: string[] = [];
  const firstLine = new Map<string, number>();
  text.split("\n").forEach((raw, i) => {
    const prompt = raw.replace(/\r$/, "").trim();
    if (prompt === "") return;
    const earlier = firstLine.get(prompt);
    if (earlier !== undefined) throw new PromptFileError({ file, field, reason: `line ${i + 1} repeats the prompt of line ${earlier} ('${prompt}')` });
    firstLine.set(prompt, i + 1);
    prompts.push(prompt);
  });
  if (prompts.length === 0) throw new PromptFileError({ file, field, reason: "holds no prompts (one prompt per line)" });
  return prompts;
};

export const readPromptFile = (file: string, field: string): string[] => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new PromptFileError({ file, field, reason: `cannot be read (${(cause as Error).message})` });
  }
  return parsePrompts(text, file, field);
};
