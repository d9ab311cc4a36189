import { describe, expect, it } from "vitest";
import { hackingWarnings, HackingMonitorError, type EvalSummary } from "../../src/report/hacking-monitor.ts";

const evaluation = (epoch: number, generatedReward: number, alignment: number, referenceReward = 1): EvalSummary => ({
  epoch,
  generatedReward,
  referenceReward,
  alignment,
  alignedAndStyled: alignment / 4,
});

describe("hackingWarnings", () => {
  it("stays quiet on a healthy run: reward up, alignment within the threshold", () => {
    const healthy = [evaluation(0, 0.1, 0.82), evaluation(5, 0.3, 0.8), evaluation(10, 0.5, 0.78), evaluation(15, 0.6, 0.81)];
    expect(hackingWarnings(healthy)).toEqual([]);
  });

  it("warns when the reward rises while alignment falls, naming the epochs and figures", () => {
    const hacked = [evaluation(0, 0.1, 0.82), evaluation(5, 0.3, 0.8), evaluation(10, 0.6, 0.4), evaluation(15, 0.9, 0.1)];
    const warnings = hackingWarnings(hacked);
    expect(warnings.map((w) => [w.epoch, w.since, w.versus])).toEqual([
      [10, 0, "first"],
      [15, 0, "first"],
    ]);
    expect(warnings[0].alignmentDrop).toBeCloseTo(42);
    expect(warnings[0].rewardChange).toBeCloseTo(0.5);
    expect(warnings[0].message).toMatch(
      /^epoch 10: generated reward rose 0\.100 -> 0\.600 while alignment fell 82\.0% -> 40\.0% \(42\.0 points\) since epoch 0/,
    );
  });

  it("catches a slow slide against the first evaluation and a sudden one against the previous", () => {
    const slide = [evaluation(0, 0.1, 0.82), evaluation(5, 0.2, 0.79), evaluation(10, 0.3, 0.76)];
    expect(hackingWarnings(slide).map((w) => [w.epoch, w.versus])).toEqual([[10, "first"]]);
    const sudden = [evaluation(0, 0.5, 0.6), evaluation(5, 0.1, 0.9), evaluation(10, 0.4, 0.8)];
    expect(hackingWarnings(sudden).map((w) => [w.epoch, w.since, w.versus])).toEqual([[10, 5, "previous"]]);
  });

  it("needs both: a falling reward with falling alignment, or a drop at the threshold, does not warn", () => {
    expect(hackingWarnings([evaluation(0, 0.5, 0.8), evaluation(5, 0.2, 0.3)])).toEqual([]);
    expect(hackingWarnings([evaluation(0, 0.1, 0.8), evaluation(5, 0.2, 0.75)])).toEqual([]);
    expect(hackingWarnings([evaluation(0, 0.1, 0.8), evaluation(5, 0.2, 0.749)])).toHaveLength(1);
    expect(hackingWarnings([evaluation(0, 0.1, 0.8), evaluation(5, 0.2, 0.7)], { maxAlignmentDrop: 20 })).toEqual([]);
    expect(hackingWarnings([evaluation(0, 0.1, 0.8), evaluation(5, Number.NaN, 0.1)])).toEqual([]);
  });

  it("can watch the margin over the reference images instead of the raw reward", () => {
    // The raw reward falls only because the discriminator got stricter; the margin still grows.
    const run = [evaluation(0, 0.5, 0.8, 0.9), evaluation(5, 0.4, 0.5, 0.4)];
    expect(hackingWarnings(run)).toEqual([]);
    const [warning] = hackingWarnings(run, { reward: "margin" });
    expect(warning.rewardChange).toBeCloseTo(0.4);
    expect(warning.message).toMatch(/reward margin over the references rose -0\.400 -> 0\.00/);
  });

  it("rejects percentages where fractions belong", () => {
    expect(() => hackingWarnings([evaluation(0, 0.1, 82)])).toThrow(HackingMonitorError);
    expect(() => hackingWarnings([], { maxAlignmentDrop: -1 })).toThrow(/maxAlignmentDrop must be >= 0/);
  });
});
