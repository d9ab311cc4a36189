/** The run's console lines: one per epoch and one per evaluation. */
import { mean } from "../rl/advantages.ts";
import type { MemoryEstimate } from "../graph/memory.ts";
import type { EpochTally } from "./epoch-metrics.ts";

const fmt = (x: number | undefined, digits = 3) => (x === undefined || Number.isNaN(x) ? "-" : Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(digits) : x.toExponential(1));

export const evaluationLine = (epochsDone: number, values: Readonly<Record<string, number>>): string =>
  `eval after ${epochsDone} epochs: aligned-and-styled ${fmt(values.alignedAndStyled)}  alignment ${fmt(values.alignment)}  style ${fmt(values.styleScore)}  dino-sim ${fmt(values.dinoSimilarity)}  reward gen ${fmt(values.generatedReward)} / ref ${fmt(values.referenceReward)}`;

/** `timings`: milliseconds per port. */
export const epochLine = (tally: EpochTally, epochs: number, seconds: number, timings: Readonly<Record<string, number>>, rssMB: number): string => {
  const g = tally.generatorSteps;
  const d = tally.discriminatorStats;
  // The forward-process objectives (nft, awm) have no importance ratio.
  const learnerText = g.length && g[0]!.ratioMin === undefined
    ? `loss ${fmt(mean(g.map((x) => x.loss!)))} |g| ${fmt(mean(g.map((x) => x.gradNorm!)))}`
    : g.length
    ? `ratio [${fmt(Math.min(...g.map((x) => x.ratioMin!)), 6)}, ${fmt(Math.max(...g.map((x) => x.ratioMax!)), 6)}] clip ${fmt(mean(g.map((x) => x.clipFracHigh! + x.clipFracLow!)), 2)} kl ${fmt(mean(g.map((x) => x.approxKl!)))} |g| ${fmt(mean(g.map((x) => x.gradNorm!)))}`
    : `D loss ${fmt(d?.loss)} acc ${fmt(d?.accuracy, 2)}`;
  const stages = Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(" ");
  const s = tally.summary;
  return `epoch ${tally.epoch + 1}/${epochs} [${tally.phase}] reward ${fmt(s.rewardMean)} ± ${fmt(s.rewardStd)}  ${learnerText}  | ${seconds.toFixed(1)}s (${stages}) rss ${Math.round(rssMB)}MB`;
};

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;

/** The learner graph's estimated memory, printed before the first epoch so a run that will not fit is seen early. */
export const learnerMemoryLine = (m: MemoryEstimate & { readonly members: number }, groupSize: number): string =>
  `learner graph (${m.members} of ${groupSize} group members per run, learner.microBatch): weights ${mib(m.weightBytes)}, fed ${mib(m.inputBytes)}, peak activations ${mib(m.peakActivationBytes)} (estimate from the graph's tensor sizes, an upper bound)`;
