/**
 * Pretrains the embedded generator:
 *   node src/pretrain/main.ts --out weights/generator --steps 8000 [--batch 32] [--lr 1e-3] [--seed 0]
 *                             [--checkpoint-every 500] [--resume] [--stop-at N]
 *                             [--init-from weights/generator/generator.safetensors] [--style-mix shaded=0.15,striped=0.15]
 */
import { parseArgs } from "node:util";
import { REFERENCE_STYLES, type ReferenceStyle } from "../world/render.ts";
import { pretrain } from "./pretrain.ts";

const USAGE =
  "usage: node src/pretrain/main.ts --out DIR --steps N [--batch 32] [--lr 1e-3] [--seed 0] [--checkpoint-every 500] [--log-every 50] [--resume] [--stop-at N] [--init-from WEIGHTS] [--style-mix shaded=0.15,...]";

const options = {
  out: { type: "string" },
  steps: { type: "string" },
  batch: { type: "string", default: "32" },
  lr: { type: "string", default: "1e-3" },
  seed: { type: "string", default: "0" },
  "checkpoint-every": { type: "string", default: "500" },
  "log-every": { type: "string", default: "50" },
  "stop-at": { type: "string" },
  "init-from": { type: "string" },
  "style-mix": { type: "string" },
  resume: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const;

const parsed = (() => {
  try {
    return parseArgs({ options });
  } catch (error) {
    // An unknown flag or a flag without its value: say which, with the usage, not a stack trace.
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
})();
const { values } = parsed;
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const number = (flag: string, text: string | undefined, integer: boolean): number => {
  const value = Number(text);
  if (text === undefined || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    process.stderr.write(`--${flag}: expected ${integer ? "an integer" : "a number"}, got ${text ?? "nothing"}\n`);
    process.exit(2);
  }
  return value;
};

/** "shaded=0.15,striped=0.15" -> { shaded: 0.15, striped: 0.15 } */
function styleMix(text: string): Partial<Record<ReferenceStyle, number>> {
  const mix: Partial<Record<ReferenceStyle, number>> = {};
  for (const part of text.split(",")) {
    const [style, share] = part.split("=");
    if (!REFERENCE_STYLES.includes(style as ReferenceStyle)) {
      process.stderr.write(`--style-mix: unknown style '${style}' (known: ${REFERENCE_STYLES.join(", ")})\n`);
      process.exit(2);
    }
    mix[style as ReferenceStyle] = number("style-mix", share, false);
  }
  return mix;
}

if (values.out === undefined) {
  process.stderr.write(`--out: missing\n${USAGE}\n`);
  process.exit(2);
}

const result = await pretrain({
  out: values.out,
  steps: number("steps", values.steps, true),
  batch: number("batch", values.batch, true),
  lr: number("lr", values.lr, false),
  seed: number("seed", values.seed, true),
  checkpointEvery: number("checkpoint-every", values["checkpoint-every"], true),
  logEvery: number("log-every", values["log-every"], true),
  resume: values.resume,
  ...(values["init-from"] === undefined ? {} : { initFrom: values["init-from"] }),
  ...(values["stop-at"] === undefined ? {} : { stopAt: number("stop-at", values["stop-at"], true) }),
  ...(values["style-mix"] === undefined ? {} : { styleMix: styleMix(values["style-mix"]) }),
});
const tail = result.losses.slice(-200);
process.stderr.write(
  `done: ${result.step} steps in ${result.seconds.toFixed(0)} s this run; mean loss of the last ${tail.length} steps ${(tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length)).toFixed(4)}; weights in ${values.out}\n`,
);
