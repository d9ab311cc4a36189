import { describe, expect, it } from "vitest";
import { FlowConfigError } from "../../src/flow/errors.ts";
import { inWindow, sdeWindow, shiftSigma, sigmaSchedule } from "../../src/flow/schedule.ts";

describe("sigmaSchedule", () => {
  it("matches docs/algorithm.md §1 for N = 10, shift = 3 (shift applied twice)", () => {
    const expected = [1.0, 0.9601, 0.9133, 0.8577, 0.7904, 0.7073, 0.6022, 0.4649, 0.278, 0.0089, 0];
    const { sigmas } = sigmaSchedule(10, 3);
    expect(sigmas).toHaveLength(11);
    sigmas.forEach((s, i) => expect(s).toBeCloseTo(expected[i]!, 4));
  });

  it("is linear from 1 to 1/1000 with shift 1, then a terminal 0", () => {
    const { sigmas } = sigmaSchedule(4, 1);
    [1, 0.667, 0.334, 0.001, 0].forEach((s, i) => expect(sigmas[i]).toBeCloseTo(s, 12));
  });

  it("starts at 1, decreases strictly, and its steps dt = sigma_{i+1} - sigma_i are negative and sum to -1", () => {
    const { sigmas } = sigmaSchedule(7, 3);
    expect(sigmas[0]).toBe(1);
    const dts = sigmas.slice(1).map((s, i) => s - sigmas[i]!);
    dts.forEach((dt) => expect(dt).toBeLessThan(0));
    expect(dts.reduce((a, b) => a + b, 0)).toBeCloseTo(-1, 12);
  });

  it("has a single step from 1 to 0 when N = 1", () => {
    expect(sigmaSchedule(1, 3).sigmas).toEqual([1, 0]);
  });

  it("shift(u) fixes 0 and 1 and pushes the middle toward noise for s > 1", () => {
    expect(shiftSigma(0, 3)).toBe(0);
    expect(shiftSigma(1, 3)).toBe(1);
    expect(shiftSigma(0.5, 3)).toBeCloseTo(0.75, 12);
  });

  it("refuses non-integer step counts and non-positive shifts", () => {
    expect(() => sigmaSchedule(2.5, 3)).toThrow(FlowConfigError);
    expect(() => sigmaSchedule(0, 3)).toThrow(/schedule.steps/);
    expect(() => sigmaSchedule(10, 0)).toThrow(/schedule.shift/);
  });
});

describe("sdeWindow", () => {
  it("starts at step 0 by default and covers size steps", () => {
    const window = sdeWindow(10, 2);
    expect(window).toEqual({ start: 0, size: 2 });
    expect([0, 1, 2].map((i) => inWindow(window, i))).toEqual([true, true, false]);
  });

  it("can start later and can be empty", () => {
    const window = sdeWindow(10, 3, 4);
    expect(Array.from({ length: 10 }, (_, i) => i).filter((i) => inWindow(window, i))).toEqual([4, 5, 6]);
    expect(Array.from({ length: 10 }, (_, i) => inWindow(sdeWindow(10, 0), i)).some(Boolean)).toBe(false);
  });

  it("refuses a window that runs past the last step, saying by how much", () => {
    expect(sdeWindow(10, 2, 8)).toEqual({ start: 8, size: 2 });
    expect(() => sdeWindow(10, 3, 8)).toThrow("flow setting 'window': expected start + size <= the number of sampling steps (10), found start 8 + size 3 = 11");
  });

  it("refuses negative or fractional sizes and starts", () => {
    expect(() => sdeWindow(10, -1)).toThrow(/window.size/);
    expect(() => sdeWindow(10, 2, 0.5)).toThrow(/window.start/);
  });
});
