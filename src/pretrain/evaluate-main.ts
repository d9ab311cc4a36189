/**
 * Samples the pretrained generator on every held-out prompt, prints its alignment, and writes an image grid:
 * one row per shown prompt, its samples (one per seed) and then its two reference-style renders.
 *   node src/pretrain/evaluate-main.ts --weights weights/generator/generator.safetensors \
 *        [--grid docs/generator-samples.png] [--seeds 4] [--guidance 3] [--steps 10] [--shift 1] [--method ode|sde|cps]
 */
import { writeFile } from "node:fs/promises";
import { scriptFlags } from "../cli/args.ts";
import { cpsMethod, odeMethod, sdeMethod, type StepMethod } from "../flow/steps.ts";
import { loadGeneratorWeights } from "../models/generator/weights.ts";
import { gridPng } from "../report/grid.ts";
import { makeRng } from "../util/prng.ts";
import { formatPrompt, promptsOf } from "../world/prompt.ts";
import { renderReference } from "../world/render.ts";
import { evaluateGenerator } from "./evaluate.ts";

const flags = scriptFlags(
  "usage: node src/pretrain/evaluate-main.ts [--weights weights/generator/generator.safetensors] [--grid out.png] [--seeds 4] [--guidance 3] [--steps 10] [--shift 1] [--method ode|sde|cps] [--rows 8]",
  {
    weights: { type: "string", default: "weights/generator/generator.safetensors" },
    grid: { type: "string" },
    seeds: { type: "string", default: "4" },
    guidance: { type: "string", default: "3" },
    steps: { type: "string", default: "10" },
    shift: { type: "string", default: "1" },
    method: { type: "string", default: "ode" },
    rows: { type: "string", default: "8" },
  },
);
const { values } = flags;
const methods = { ode: odeMethod, sde: sdeMethod(), cps: cpsMethod() } as const satisfies Readonly<Record<string, StepMethod>>;
const method = methods[flags.choice("method", Object.keys(methods) as (keyof typeof methods)[])];
const [seeds, steps, rowCount] = (["seeds", "steps", "rows"] as const).map((flag) => flags.number(flag, { integer: true, min: 1 })) as [number, number, number];
const [guidance, shift] = (["guidance", "shift"] as const).map((flag) => flags.number(flag, { integer: false, min: 0 })) as [number, number];

const weights = await loadGeneratorWeights(values.weights);
const prompts = promptsOf("heldout");
const started = performance.now();
const { images, rates } = await evaluateGenerator(weights, {
  prompts,
  seeds,
  guidance,
  steps,
  shift,
  method,
});
const seconds = (performance.now() - started) / 1000;
const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
process.stdout.write(
  `${values.weights}: ${prompts.length} held-out prompts x ${values.seeds} seeds, ${values.method} ${values.steps} steps shift ${values.shift} guidance ${values.guidance}, ${seconds.toFixed(1)} s\n` +
    `aligned ${percent(rates.aligned)}  (background ${percent(rates.background)}, colour ${percent(rates.colour)}, shape ${percent(rates.shape)}, size ${percent(rates.size)}, position ${percent(rates.position)})\n`,
);

if (values.grid !== undefined) {
  const stride = Math.floor(prompts.length / rowCount);
  const shown = Array.from({ length: rowCount }, (_, r) => r * stride);
  const rows = shown.map((p) => [
    ...images[p]!,
    renderReference(prompts[p]!, makeRng(p).fork("reference"), "shaded"),
    renderReference(prompts[p]!, makeRng(p).fork("reference"), "striped"),
  ]);
  await writeFile(values.grid, gridPng(rows, { gap: 2, scale: 4 }));
  process.stdout.write(`wrote ${values.grid}: rows = held-out prompts, columns = ${values.seeds} seeds, then shaded and striped references\n`);
  shown.forEach((p, r) => process.stdout.write(`  row ${r}: ${formatPrompt(prompts[p]!)}\n`));
}
