/**
 * Pretrains the embedded generator:
 *   node src/pretrain/main.ts --out weights/generator --steps 8000 [--batch 32] [--lr 1e-3] [--seed 0]
 *                             [--checkpoint-every 500] [--resume] [--stop-at N]
 *                             [--init-from weights/generator/generator.safetensors] [--style-mix shaded=0.15,striped=0.15]
 */
import { scriptFlags } from "../cli/args.ts";
import { REFERENCE_STYLES, type ReferenceStyle } from "../world/render.ts";
import { pretrain } from "./pretrain.ts";

const USAGE =
  "usage: node src/pretrain/main.ts --out DIR --steps N [--batch 32] [--lr 1e-3] [--seed 0] [--checkpoint-every 500] [--log-every 50] [--resume] [--stop-at N] [--init-from WEIGHTS] [--style-mix shaded=0.15,...]";

const flags = scriptFlags(USAGE, {
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
});
const { values } = flags;
const count = (flag: string) => flags.number(flag, { integer: true, min: 1 });

/** "shaded=0.15,striped=0.15" -> { shaded: 0.15, striped: 0.15 } */
function styleMix(text: string): Partial<Record<ReferenceStyle, number>> {
  const mix: Partial<Record<ReferenceStyle, number>> = {};
  for (const part of text.split(",")) {
    const [style, share] = part.split("=");
    if (!REFERENCE_STYLES.includes(style as ReferenceStyle)) {
      process.stderr.write(`--style-mix: unknown style '${style}' (known: ${REFERENCE_STYLES.join(", ")})\n${USAGE}\n`);
      process.exit(2);
    }
    const value = Number(share);
    if (share === undefined || share.trim() === "" || !Number.isFinite(value) || value < 0) {
      process.stderr.write(`--style-mix: the share of '${style}' is ${share ?? "missing"}, expected a number >= 0\n${USAGE}\n`);
      process.exit(2);
    }
    mix[style as ReferenceStyle] = value;
  }
  return mix;
}

const result = await pretrain({
  out: flags.required("out"),
  steps: count("steps"),
  batch: count("batch"),
  lr: flags.number("lr", { integer: false, min: 0 }),
  seed: flags.number("seed", { integer: true, min: 0 }),
  checkpointEvery: count("checkpoint-every"),
  logEvery: count("log-every"),
  resume: values.resume ?? false,
  ...(values["init-from"] === undefined ? {} : { initFrom: values["init-from"] }),
  ...(values["stop-at"] === undefined ? {} : { stopAt: count("stop-at") }),
  ...(values["style-mix"] === undefined ? {} : { styleMix: styleMix(values["style-mix"]) }),
});
const tail = result.losses.slice(-200);
process.stderr.write(
  `done: ${result.step} steps in ${result.seconds.toFixed(0)} s this run; mean loss of the last ${tail.length} steps ${(tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length)).toFixed(4)}; weights in ${values.out}\n`,
);
