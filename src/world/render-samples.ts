/**
 * Writes a PNG grid of the shapes world: one row per prompt, columns = the base, shaded and striped
 * renders of one seed, then the same three for a second seed (to show the per-instance jitter).
 *
 *   node src/world/render-samples.ts out.png [seed]
 */
import { writeFileSync } from "node:fs";
import { gridPng } from "../report/grid.ts";
import { makeRng } from "../util/prng.ts";
import { formatPrompt, parsePrompt } from "./prompt.ts";
import { render, STYLES } from "./render.ts";

const SAMPLE_PROMPTS = [
  "a large red circle on the left, white background",
  "a small blue square in the center, black background",
  "a large yellow triangle on the right, gray background",
  "a large green cross in the center, white background",
  "a small purple circle on the right, gray background",
  "a large orange square on the left, black background",
  "a large blue triangle in the center, white background",
  "a small green triangle on the left, black background",
].map(parsePrompt);

const [output, seedText = "0"] = process.argv.slice(2);
if (output === undefined) {
  console.error("usage: node src/world/render-samples.ts out.png [seed]");
  process.exit(2);
}
const seed = Number(seedText);
const rows = SAMPLE_PROMPTS.map((attributes, row) =>
  [0, 1].flatMap((instance) =>
    STYLES.map((style) => render(attributes, style, makeRng(seed).fork(row).fork(instance))),
  ),
);
writeFileSync(output, gridPng(rows, { gap: 2, scale: 6 }));
console.log(`wrote ${output}: ${SAMPLE_PROMPTS.length} prompts x (${STYLES.join(", ")}) x 2 seeds`);
SAMPLE_PROMPTS.forEach((a, row) => console.log(`  row ${row}: ${formatPrompt(a)}`));
