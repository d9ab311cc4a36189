/**
 * The reward-hacking monitor: a reward that keeps rising while the images stop matching their prompts
 * is being gamed (a calibration run raised its style score by degrading images, alignment 82% -> 8%).
 * Each evaluation is compared with the previous one and with the first; a warning names the epochs
 * and the figures so the reader can go straight to those grids.
 */
import { Schema } from "effect";

/** One evaluation's figures; the fractions are in [0, 1]. */
export interface EvalSummary {
  readonly epoch: number;
  /** Mean reward of the generated images. */
  readonly generatedReward: number;
  /** Mean reward of the reference images under the same reward model. */
  readonly referenceReward: number;
  /** Fraction of samples the analyser judges aligned with their prompt. */
  readonly alignment: number;
  /** Fraction of samples both aligned and judged reference-style. */
  readonly alignedAndStyled: number;
}

export interface HackingMonitorOptions {
  /** Percentage points alignment may fall while the reward rises before a warning (default 5). */
  readonly maxAlignmentDrop?: number;
  /**
   * Which reward must rise: "generated" (default), or "margin" = generated - reference, which stays
   * comparable across evaluations while the discriminator, and so the reward's scale, keeps changing.
   */
  readonly reward?: "generated" | "margin";
}

export interface HackingWarning {
  readonly epoch: number;
  /** The epoch of the evaluation compared with. */
  readonly since: number;
  readonly versus: "previous" | "first";
  readonly rewardChange: number;
  /** How far alignment fell, in percentage points. */
  readonly alignmentDrop: number;
  readonly message: string;
}

/** Evaluation figures the monitor cannot compare. */
export class HackingMonitorError extends Schema.TaggedError<HackingMonitorError>()("HackingMonitorError", {
  /** The evaluation at fault; absent when an option is. */
  epoch: Schema.optionalKey(Schema.Number),
  reason: Schema.String,
}) {
  override get message() {
    const where = this.epoch === undefined ? "" : `, evaluation at epoch ${this.epoch}`;
    return `reward-hacking monitor${where}: ${this.reason}`;
  }
}

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

function check(evaluation: EvalSummary): void {
  for (const field of ["alignment", "alignedAndStyled"] as const) {
    const value = evaluation[field];
    // Percentages passed by mistake would make a 5-point threshold a 0.05-point one.
    if (value < 0 || value > 1) {
      throw new HackingMonitorError({ epoch: evaluation.epoch, reason: `${field} must be a fraction in [0, 1], got ${value}` });
    }
  }
}

/**
 * Warnings, at most one per evaluation (the comparison with the larger alignment drop), for every
 * evaluation whose reward rose while alignment fell by more than the threshold. NaN figures never warn.
 */
export function hackingWarnings(evaluations: ReadonlyArray<EvalSummary>, options: HackingMonitorOptions = {}): HackingWarning[] {
  const maxDrop = options.maxAlignmentDrop ?? 5;
  if (!(maxDrop >= 0)) throw new HackingMonitorError({ reason: `maxAlignmentDrop must be >= 0, got ${maxDrop}` });
  evaluations.forEach(check);
  const useMargin = options.reward === "margin";
  const reward = (e: EvalSummary) => (useMargin ? e.generatedReward - e.referenceReward : e.generatedReward);
  const rewardName = useMargin ? "reward margin over the references" : "generated reward";

  const compare = (before: EvalSummary, after: EvalSummary, versus: "previous" | "first"): HackingWarning | undefined => {
    const rewardChange = reward(after) - reward(before);
    const alignmentDrop = (before.alignment - after.alignment) * 100;
    // The slack keeps a drop of exactly the threshold (0.80 -> 0.75 = 5.000000000000004) quiet.
    if (!(rewardChange > 0 && alignmentDrop > maxDrop + 1e-9)) return undefined;
    const message =
      `epoch ${after.epoch}: ${rewardName} rose ${reward(before).toPrecision(3)} -> ${reward(after).toPrecision(3)} ` +
      `while alignment fell ${percent(before.alignment)} -> ${percent(after.alignment)} (${alignmentDrop.toFixed(1)} points) ` +
      `since epoch ${before.epoch} (${versus} evaluation); aligned-and-styled ${percent(before.alignedAndStyled)} -> ` +
      `${percent(after.alignedAndStyled)}. The reward may be paying for damage rather than style: compare the image grids.`;
    return { epoch: after.epoch, since: before.epoch, versus, rewardChange, alignmentDrop, message };
  };

  return evaluations.slice(1).flatMap((evaluation, i) => {
    const found = [compare(evaluations[i], evaluation, "previous"), i > 0 ? compare(evaluations[0], evaluation, "first") : undefined];
    const worst = found
      .filter((w): w is HackingWarning => w !== undefined)
      .sort((a, b) => b.alignmentDrop - a.alignmentDrop)[0];
    return worst === undefined ? [] : [worst];
  });
}
