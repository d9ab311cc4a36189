/**
 * The run's offline HTML page, rebuilt from metrics.jsonl and the evaluation grids after every evaluation
 * and at the end, so a killed run still has a current report. Style figures never appear without alignment
 * and a grid beside them: a style score can rise because images degrade.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HeadlineFigure, renderReport, type ReportSection } from "../report/html.ts";
import { METRIC_KINDS, metricSeries, readMetricsLog, writeCsv, type MetricRecord } from "../report/metrics-log.ts";
import { linePlot, type Point, type Series } from "../report/plot.ts";
import { runHackingWarnings } from "./reward-hacking-stop.ts";
import type { RunFolder } from "./run-folder.ts";

const pct = (f: number | undefined) => (f === undefined || Number.isNaN(f) ? "-" : `${(f * 100).toFixed(1)}%`);
const num = (f: number | undefined) => (f === undefined || Number.isNaN(f) ? "-" : f.toFixed(3));

type SeriesOf = (kind: MetricRecord["kind"], metric: string, x?: "epoch" | "step") => Point[];

/** A plotted metric: legend name, metric key, and whether it is drawn dashed (a bound or a comparison line). */
type Line = readonly [name: string, metric: string, dashed?: "dashed"];

/** The series of `kind` records' metrics, each line's points against `x`. */
const lines = (series: SeriesOf, kind: MetricRecord["kind"], x: "epoch" | "step", specs: readonly Line[]): Series[] =>
  specs.map(([name, metric, dashed]) => ({ name, points: series(kind, metric, x), ...(dashed ? { dashed: true } : {}) }));

/** A plot of evaluation metrics over the epochs trained before each evaluation. */
const evaluationPlot = (series: SeriesOf, title: string, yLabel: string, specs: readonly Line[]): string =>
  linePlot({ title, xLabel: "epochs trained", yLabel, series: lines(series, "eval", "epoch", specs) });

const headlineFigures = (records: readonly MetricRecord[]): HeadlineFigure[] => {
  const evals = records.filter((r) => r.kind === "eval");
  const [first, last] = [evals[0]?.metrics, evals.at(-1)?.metrics];
  const before = (format: (f: number | undefined) => string, metric: string) => ({ value: format(last?.[metric]), note: `before training: ${format(first?.[metric])}` });
  return [
    { label: "aligned-and-styled", ...before(pct, "alignedAndStyled") },
    { label: "alignment", ...before(pct, "alignment") },
    { label: "style score", ...before(num, "styleScore") },
    { label: "DINO similarity", ...before(num, "dinoSimilarity") },
    { label: "diversity", ...before(num, "diversity") },
    { label: "epochs", value: String(records.filter((r) => r.kind === "epoch").length) },
  ];
};

const evaluationSection = (records: readonly MetricRecord[], series: SeriesOf): ReportSection => ({
  title: "Evaluation on held-out prompts (ODE samples)",
  plots: [
    evaluationPlot(series, "Alignment and aligned-and-styled", "fraction of samples", [
      ["alignment", "alignment"],
      ["aligned-and-styled", "alignedAndStyled"],
      ["styled", "styledRate", "dashed"],
    ]),
    evaluationPlot(series, "Style score, DINO similarity, diversity", "value", [
      ["style score", "styleScore"],
      ["DINO similarity", "dinoSimilarity"],
      ["diversity", "diversity"],
    ]),
    evaluationPlot(series, "Reward-hacking monitor: discriminator reward, samples vs references", "reward", [
      ["generated", "generatedReward"],
      ["reference images", "referenceReward", "dashed"],
    ]),
  ],
  tables: [
    {
      columns: ["epochs", "aligned-and-styled", "alignment", "style score", "DINO sim", "diversity", "reward gen", "reward ref"],
      rows: records.filter((r) => r.kind === "eval").map((e) => [e.epoch, pct(e.metrics.alignedAndStyled), pct(e.metrics.alignment), num(e.metrics.styleScore), num(e.metrics.dinoSimilarity), num(e.metrics.diversity), num(e.metrics.generatedReward), num(e.metrics.referenceReward)]),
    },
  ],
});

const gridSection = (folder: RunFolder): ReportSection => ({
  title: "Image grids over training",
  images: existsSync(folder.grids)
    ? readdirSync(folder.grids)
        .filter((f) => f.endsWith(".png"))
        .sort()
        .map((f) => ({ src: `grids/${f}`, caption: `${f.replace(".png", "")}: held-out prompts (rows) x seeds, last column a reference image` }))
    : [],
});

const rolloutSection = (records: readonly MetricRecord[], series: SeriesOf): ReportSection => ({
  title: "Rollouts and the discriminator",
  plots: [
    linePlot({
      title: "Rollout reward per epoch (mean +/- std)",
      xLabel: "epoch",
      yLabel: "reward",
      series: [{ name: "reward", points: series("epoch", "rewardMean"), band: records.filter((r) => r.kind === "epoch").map((r) => [r.epoch, r.metrics.rewardMean! - r.metrics.rewardStd!, r.metrics.rewardMean! + r.metrics.rewardStd!] as const) }],
    }),
    linePlot({
      title: "Discriminator",
      xLabel: "epoch",
      yLabel: "value",
      series: lines(series, "discriminator", "epoch", [
        ["accuracy", "accuracy"],
        ["hinge loss", "loss"],
      ]),
    }),
  ],
});

const generatorSection = (records: readonly MetricRecord[], series: SeriesOf): ReportSection => ({
  title: "Generator steps",
  plots: [
    linePlot({
      title: "Importance ratio (min / mean / max)",
      xLabel: "optimiser step",
      yLabel: "ratio",
      series: lines(series, "generator", "step", [
        ["mean", "ratioMean"],
        ["min", "ratioMin", "dashed"],
        ["max", "ratioMax", "dashed"],
      ]),
      references: [{ name: "on-policy", y: 1, colour: "#888888" }],
    }),
    linePlot({
      // Its own axis: the spread is orders of magnitude below the ratio itself (0 on an on-policy step).
      title: "Importance ratio std per step (how far the sampling policy has drifted)",
      xLabel: "optimiser step",
      yLabel: "std of ratio",
      series: [{ name: "std", points: series("generator", "ratioStd", "step") }],
    }),
    linePlot({
      title: "Clip fraction and gradient norm",
      xLabel: "optimiser step",
      yLabel: "value",
      series: [
        { name: "clip fraction (high + low)", points: records.filter((r) => r.kind === "generator").map((r) => [r.step ?? r.epoch, r.metrics.clipFracHigh! + r.metrics.clipFracLow!] as const) },
        { name: "gradient norm (pre-clip)", points: series("generator", "gradNorm", "step") },
      ],
    }),
  ],
});

const resourceSection = (series: SeriesOf): ReportSection => ({
  title: "Time and memory per epoch",
  plots: [
    linePlot({
      title: "Seconds per epoch and peak RSS",
      xLabel: "epoch",
      yLabel: "seconds / 100 MB",
      series: [
        { name: "seconds", points: series("epoch", "seconds") },
        { name: "RSS (100 MB)", points: series("epoch", "rssMB").map(([x, y]) => [x, y / 100] as const) },
      ],
    }),
  ],
});

/** `stopped`: why the run ended early, shown first among the warnings. */
export const writeRunReport = (folder: RunFolder, configJson: string, stopped?: string): string => {
  const { records, warnings } = readMetricsLog(folder.root);
  for (const kind of METRIC_KINDS) if (records.some((r) => r.kind === kind)) writeCsv(records, kind, join(folder.root, `metrics-${kind}.csv`));
  const series: SeriesOf = (kind, metric, x = "epoch") => metricSeries(records, kind, metric, x);
  const html = renderReport({
    title: `advgrpo run ${folder.root}`,
    runId: folder.root,
    createdAt: new Date().toISOString(),
    config: configJson,
    headline: headlineFigures(records),
    warnings: [...(stopped ? [stopped] : []), ...warnings, ...runHackingWarnings(records).map((w) => w.message)],
    sections: [evaluationSection(records, series), gridSection(folder), rolloutSection(records, series), generatorSection(records, series), resourceSection(series)],
  });
  writeFileSync(folder.report, html);
  return folder.report;
};
