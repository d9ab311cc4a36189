/**
 * Writes a report from synthetic data, to look at the page without a training run:
 *   node src/report/demo.ts [folder]      (default /tmp/report-demo; open folder/index.html)
 * The synthetic run is a reward-hacking one on purpose, so the monitor's warnings show.
 */
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { makeRng } from "../util/prng.ts";
import { degrade } from "../world/degrade.ts";
import { promptsOf } from "../world/prompt.ts";
import { renderBase, renderReference } from "../world/render.ts";
import { gridPng } from "./grid.ts";
import { hackingWarnings, type EvalSummary } from "./hacking-monitor.ts";
import { renderReport } from "./html.ts";
import { METRIC_KINDS, metricSeries, openMetricsLog, readMetricsLog, writeCsv, type MetricRecord } from "./metrics-log.ts";
import { linePlot } from "./plot.ts";

const folder = process.argv[2] ?? "/tmp/report-demo";
fs.rmSync(folder, { recursive: true, force: true });
const rng = makeRng(7);
const noise = rng.fork("metrics");
const EPOCHS = 40;
const EVAL_EVERY = 5;

const log = openMetricsLog(folder);
for (let epoch = 0; epoch < EPOCHS; epoch++) {
  const progress = epoch / EPOCHS;
  for (let k = 0; k < 2; k++) {
    const step = 2 * epoch + k;
    const ratioSpread = 1e-5 * (1 + 3 * progress);
    log.append({
      kind: "generator",
      epoch,
      step,
      metrics: {
        // A diverged step, to show the gap it leaves in the plots.
        policy_loss: step === 51 ? Number.NaN : -0.02 * progress + 0.004 * noise.normal(),
        ratio_mean: 1 + ratioSpread * noise.normal() * 0.3,
        ratio_min: 1 - ratioSpread * (1 + noise.next()),
        ratio_max: 1 + ratioSpread * (1 + noise.next()),
        clip_fraction: k === 0 ? 0 : 0.05 + 0.1 * progress * noise.next(),
        approx_kl: k === 0 ? 0 : 1e-10 * (1 + 20 * progress) * (1 + noise.next()),
        reward_mean: -0.6 + 0.9 * progress + 0.05 * noise.normal(),
        reward_std: 0.25 - 0.1 * progress,
      },
    });
  }
  for (let step = 0; step < 2; step++) {
    log.append({
      kind: "discriminator",
      epoch,
      step: 2 * epoch + step,
      metrics: {
        loss: 1.2 - 0.5 * Math.exp(-epoch / 8) + 0.05 * noise.normal(),
        accuracy: 0.95 - 0.35 * progress + 0.03 * noise.normal(),
      },
    });
  }
  if (epoch % EVAL_EVERY === 0 || epoch === EPOCHS - 1) {
    log.append({
      kind: "eval",
      epoch,
      metrics: {
        generated_reward: -0.5 + progress * 1.1,
        reference_reward: 0.8 - 0.2 * progress,
        alignment: 0.84 - (progress > 0.5 ? (progress - 0.5) * 1.2 : 0.02 * progress),
        aligned_and_styled: Math.min(0.6, 0.75 * progress) - (progress > 0.6 ? (progress - 0.6) * 0.9 : 0),
        style_score: 0.05 + 0.85 * progress,
        dino_similarity: 0.42 + 0.25 * progress,
        diversity: 0.31 - 0.12 * progress,
      },
    });
  }
}
log.close();

const { records, warnings: readWarnings } = readMetricsLog(folder);
for (const kind of METRIC_KINDS) {
  if (records.some((r) => r.kind === kind)) writeCsv(records, kind, nodePath.join(folder, `metrics-${kind}.csv`));
}

// Image grids: one row per held-out prompt, columns over evaluations; later epochs degrade.
fs.mkdirSync(nodePath.join(folder, "grids"), { recursive: true });
const prompts = promptsOf("heldout").slice(0, 4);
const evalEpochs = records.filter((r) => r.kind === "eval").map((r) => r.epoch);
const images = evalEpochs.map((epoch) => {
  const rows = prompts.map((prompt, p) =>
    Array.from({ length: 4 }, (_, s) => {
      const sample = rng.fork(`grid-${epoch}-${p}-${s}`);
      const styled = epoch >= 10 ? renderReference(prompt, sample, "shaded") : renderBase(prompt, sample);
      return epoch >= 25 ? degrade(styled, "speckle", sample.fork("damage"), (epoch - 20) / 20) : styled;
    }),
  );
  const file = `grids/epoch-${String(epoch).padStart(3, "0")}.png`;
  fs.writeFileSync(nodePath.join(folder, file), gridPng(rows, { scale: 3, gap: 3 }));
  return { src: file, caption: `epoch ${epoch}: held-out prompts (rows) x samples, ODE with EMA weights` };
});

const evalRecords = records.filter((r) => r.kind === "eval");
const evaluations: EvalSummary[] = evalRecords.map((r) => ({
  epoch: r.epoch,
  generatedReward: r.metrics.generated_reward,
  referenceReward: r.metrics.reference_reward,
  alignment: r.metrics.alignment,
  alignedAndStyled: r.metrics.aligned_and_styled,
}));
const hacking = hackingWarnings(evaluations);
const last = evaluations[evaluations.length - 1];
const first = evaluations[0];
const pct = (f: number) => `${(f * 100).toFixed(1)}%`;
const series = (kind: MetricRecord["kind"], metric: string, x: "epoch" | "step" = "epoch") => metricSeries(records, kind, metric, x);

const html = renderReport({
  title: "Adv-GRPO on shapes <demo>",
  runId: "demo-0001",
  createdAt: "2025-01-01T12:00:00Z",
  config: fs.readFileSync(new URL("../../pipelines/default.yaml", import.meta.url), "utf8"),
  headline: [
    { label: "aligned-and-styled", value: pct(last.alignedAndStyled), note: `base model: ${pct(first.alignedAndStyled)}` },
    { label: "alignment", value: pct(last.alignment), note: `base model: ${pct(first.alignment)}` },
    { label: "style score", value: evalRecords[evalRecords.length - 1].metrics.style_score },
    { label: "DINO similarity", value: evalRecords[evalRecords.length - 1].metrics.dino_similarity },
    { label: "generator epochs", value: EPOCHS },
  ],
  warnings: [...readWarnings, ...hacking.map((w) => w.message)],
  sections: [
    {
      title: "Reward hacking monitor",
      plots: [
        linePlot({
          title: "Reward: generated vs reference images",
          xLabel: "epoch",
          yLabel: "reward",
          series: [
            { name: "generated", points: series("eval", "generated_reward") },
            { name: "reference images", points: series("eval", "reference_reward"), dashed: true },
          ],
        }),
        linePlot({
          title: "Alignment and aligned-and-styled",
          xLabel: "epoch",
          yLabel: "fraction of samples",
          series: [
            { name: "alignment", points: series("eval", "alignment") },
            { name: "aligned-and-styled", points: series("eval", "aligned_and_styled") },
          ],
          references: [{ name: "base alignment - 5 points", y: first.alignment - 0.05 }],
        }),
      ],
      tables: [
        {
          columns: ["epoch", "generated reward", "reference reward", "alignment", "aligned-and-styled"],
          rows: evaluations.map((e) => [e.epoch, e.generatedReward, e.referenceReward, pct(e.alignment), pct(e.alignedAndStyled)]),
        },
      ],
    },
    { title: "Image grids over training", images },
    {
      title: "Generator steps",
      plots: [
        linePlot({
          title: "Reward per step (mean +/- std)",
          xLabel: "optimiser step",
          yLabel: "reward",
          series: [
            {
              name: "reward mean",
              points: series("generator", "reward_mean", "step"),
              band: records
                .filter((r) => r.kind === "generator" && r.step !== undefined)
                .map((r) => [r.step ?? 0, r.metrics.reward_mean - r.metrics.reward_std, r.metrics.reward_mean + r.metrics.reward_std] as const),
            },
          ],
        }),
        linePlot({
          title: "Policy loss (a diverged step leaves a gap)",
          xLabel: "optimiser step",
          yLabel: "loss",
          series: [{ name: "policy loss", points: series("generator", "policy_loss", "step") }],
        }),
        linePlot({
          title: "Importance ratio",
          xLabel: "optimiser step",
          yLabel: "ratio",
          series: [
            { name: "mean", points: series("generator", "ratio_mean", "step") },
            { name: "min", points: series("generator", "ratio_min", "step"), dashed: true },
            { name: "max", points: series("generator", "ratio_max", "step"), dashed: true },
          ],
          references: [{ name: "on-policy", y: 1, colour: "#888888" }],
        }),
        linePlot({
          title: "Approximate KL (log scale; exact zeros are not drawn)",
          xLabel: "optimiser step",
          yLabel: "approx_kl",
          yLog: true,
          series: [{ name: "approx_kl", points: series("generator", "approx_kl", "step") }],
        }),
      ],
    },
    {
      title: "Discriminator",
      plots: [
        linePlot({
          title: "Discriminator accuracy",
          xLabel: "optimiser step",
          yLabel: "accuracy",
          series: [{ name: "accuracy", points: series("discriminator", "accuracy", "step") }],
          references: [{ name: "chance", y: 0.5 }],
        }),
        linePlot({
          title: "Evaluation metrics",
          xLabel: "epoch",
          yLabel: "score",
          series: [
            { name: "style score", points: series("eval", "style_score") },
            { name: "DINO similarity", points: series("eval", "dino_similarity") },
            { name: "diversity", points: series("eval", "diversity") },
          ],
        }),
      ],
    },
  ],
});
fs.writeFileSync(nodePath.join(folder, "index.html"), html);
console.log(`report: ${nodePath.join(folder, "index.html")} (${hacking.length} hacking warnings)`);
