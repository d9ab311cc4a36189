/** The run's prompt lists: the embedded shapes world's, or a user's prompt files. */
import { readPromptFile } from "../io/prompt-file.ts";
import { formatPrompt, promptsOf } from "../world/prompt.ts";
import type { PipelineConfig } from "./config/schema.ts";

/** The training prompts, indexed by a rollout's promptIndex. */
export const trainingPrompts = (config: PipelineConfig): string[] =>
  config.prompts.train === "embedded" ? promptsOf("train").map(formatPrompt) : readPromptFile(config.prompts.train, "prompts.train");

/** The held-out prompts evaluated, in order, at most eval.heldOutPrompts of them. */
export const heldOutPrompts = (config: PipelineConfig): string[] =>
  (config.prompts.heldOut === "embedded" ? promptsOf("heldout").map(formatPrompt) : readPromptFile(config.prompts.heldOut, "prompts.heldOut")).slice(0, config.eval.heldOutPrompts);
