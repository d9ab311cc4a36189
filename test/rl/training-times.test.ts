import { describe, expect, it } from "vitest";
import { sigmaSchedule } from "../../src/flow/schedule.ts";
import { awmStepIndices, nftStepIndices, trainingDraws } from "../../src/rl/training-times.ts";
import { makeRng } from "../../src/util/prng.ts";

describe("training times", () => {
  it("nft: distinct steps of 0..N-1, every step drawn over many rollouts", () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const steps = nftStepIndices(makeRng(seed), 10, 9);
      expect(new Set(steps).size).toBe(9);
      for (const s of steps) expect(s >= 0 && s < 10).toBe(true);
      steps.forEach((s) => seen.add(s));
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => nftStepIndices(makeRng(0), 4, 5)).toThrow(/without replacement from 4/);
  });

  it("awm: one step per stratum of linspace(1, floor(0.9 N), T + 1), step 0 never", () => {
    // The paper's setting: N = 14, T = 6: boundaries 1, 2.83, 4.67, 6.5, 8.33, 10.17, 12 floored to 1 2 4 6 8 10 12.
    const strata = [[1, 2], [2, 4], [4, 6], [6, 8], [8, 10], [10, 12]];
    const seen = strata.map(() => new Set<number>());
    for (let seed = 0; seed < 100; seed++) {
      awmStepIndices(makeRng(seed), 14, 6, 0.9).forEach((s, k) => {
        expect(s).toBeGreaterThanOrEqual(strata[k]![0]!);
        expect(s).toBeLessThan(strata[k]![1]!);
        seen[k]!.add(s);
      });
    }
    expect(seen.map((s) => s.size)).toEqual([1, 2, 2, 2, 2, 2]);
  });

  it("a rollout's draws depend on its seed and the optimiser step only", () => {
    const schedule = sigmaSchedule(10, 1);
    const draw = (seed: number, step: number) => trainingDraws({ kind: "nft", count: 3 }, schedule, seed, step, 4);
    expect(draw(5, 2)).toEqual(draw(5, 2));
    expect(draw(5, 2)).not.toEqual(draw(5, 3));
    expect(draw(5, 2)).not.toEqual(draw(6, 2));
    for (const d of draw(5, 2)) expect(schedule.sigmas.slice(0, 10)).toContain(d.sigma);
  });
});
