/**
 * Pretrains the embedded backbone on the shapes world and writes weights/backbone/.
 *
 *   node src/pretrain-backbone/main.ts --objective contrastive --steps 1500 --groups 12 --seed 7 [--out weights/backbone] [--max-minutes 23]
 *
 * Every random choice (images, crops, initial weights) derives from --seed, so a run is reproducible up
 * to floating-point summation order in ORT's threaded kernels. A checkpoint is written every 100 steps.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptFlags } from "../cli/args.ts";
import { encodeSafetensors, fromParamSet } from "../io/safetensors.ts";
import { normaliseInto } from "../models/backbone/preprocess.ts";
import { DEFAULT_VIT, exportVitOnnx } from "../models/backbone/vit.ts";
import { makeRng } from "../util/prng.ts";
import { GLOBAL_CROP, LOCAL_CROP, randomView } from "./augment.ts";
import { contrastiveObjective, DEFAULT_CONTRASTIVE } from "./contrastive.ts";
import { DEFAULT_DINO, dinoObjective } from "./dino.ts";
import { GROUP_SIZE, sampleGroup } from "./world-images.ts";

const flags = scriptFlags(
  "usage: node src/pretrain-backbone/main.ts [--objective contrastive|dino] [--steps 1500] [--groups 12] [--locals 2] [--seed 7] [--lr 5e-4] [--out weights/backbone] [--max-minutes 23]",
  {
    objective: { type: "string", default: "contrastive" },
    steps: { type: "string", default: "1500" },
    groups: { type: "string", default: "12" },
    locals: { type: "string", default: "2" },
    seed: { type: "string", default: "7" },
    lr: { type: "string", default: "5e-4" },
    out: { type: "string", default: "weights/backbone" },
    "max-minutes": { type: "string", default: "23" },
  },
);
const out = flags.required("out");
const objectiveName = flags.choice("objective", ["contrastive", "dino"] as const);
const steps = flags.number("steps", { integer: true, min: 1 });
const images = flags.number("groups", { integer: true, min: 1 }) * GROUP_SIZE;
const locals = flags.number("locals", { integer: true, min: 0 });
const seed = flags.number("seed", { integer: true, min: 0 });
const peakLr = flags.number("lr", { integer: false, min: 0 });
const maxMs = flags.number("max-minutes", { integer: false, min: 0 }) * 60_000;
const vit = DEFAULT_VIT;
const size = vit.imageSize;
const plane = 3 * size * size;
// The exported file has a static batch axis; the feature stage runs it in chunks of this size.
const EXPORT_BATCH = 16;

const objective =
  objectiveName === "dino"
    ? await dinoObjective(vit, DEFAULT_DINO, images, locals, seed)
    : await contrastiveObjective(vit, DEFAULT_CONTRASTIVE, images, seed);

const warmup = Math.max(1, Math.round(0.06 * steps));
const learningRate = (step: number): number =>
  step < warmup ? (peakLr * (step + 1)) / warmup : 1e-6 + 0.5 * (peakLr - 1e-6) * (1 + Math.cos((Math.PI * (step - warmup)) / (steps - warmup)));

const save = (step: number, elapsedMs: number) => {
  mkdirSync(out, { recursive: true });
  const weights = objective.backbone();
  const metadata = { config: JSON.stringify(vit), objective: objectiveName, steps: String(step), seed: String(seed), images_per_step: String(images), elapsed_s: (elapsedMs / 1000).toFixed(0) };
  writeFileSync(join(out, "backbone.safetensors"), encodeSafetensors({ tensors: fromParamSet(weights), metadata }));
  writeFileSync(join(out, "backbone.onnx"), exportVitOnnx(vit, weights, EXPORT_BATCH));
};

const root = makeRng(seed).fork("data");
const started = Date.now();
let step = 0;
for (; step < steps && Date.now() - started < maxMs; step++) {
  const rng = root.fork(step);
  const pixels = new Float32Array(objective.views * images * plane);
  for (let g = 0; g < images / GROUP_SIZE; g++) {
    sampleGroup(rng.fork(g), size).forEach((image, member) => {
      const i = g * GROUP_SIZE + member;
      for (let v = 0; v < objective.views; v++) {
        const view = randomView(image, rng.fork(g).fork(`view${member}.${v}`), v < 2 ? GLOBAL_CROP : LOCAL_CROP, size);
        normaliseInto(view.data, pixels, (v * images + i) * plane);
      }
    });
  }
  const { loss, diagnostics } = await objective.step(pixels, learningRate(step), step, steps);
  if (step % 20 === 0 || step === steps - 1) {
    console.log(`step ${step} loss ${loss.toFixed(4)} lr ${learningRate(step).toExponential(2)} ${diagnostics} ${((Date.now() - started) / 1000).toFixed(0)}s`);
  }
  if (step % 100 === 99) save(step + 1, Date.now() - started);
}
save(step, Date.now() - started);
console.log(`done: ${step} steps in ${((Date.now() - started) / 1000).toFixed(0)} s`);
