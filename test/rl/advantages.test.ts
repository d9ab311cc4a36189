import { describe, expect, it } from "vitest";
import { AdvantageInputError, groupAdvantages, populationStd } from "../../src/rl/advantages.ts";

describe("groupAdvantages", () => {
  it("global scope: centres on the group mean, scales by the epoch's population std", () => {
    // all rewards 1 3 2 2: mean 2, variance (1 + 1 + 0 + 0) / 4 = 0.5, std = sqrt(0.5)
    const { advantages } = groupAdvantages([[1, 3], [2, 2]]);
    const scale = Math.SQRT1_2 + 1e-4;
    expect(advantages[0]![0]).toBeCloseTo(-1 / scale, 12);
    expect(advantages[0]![1]).toBeCloseTo(1 / scale, 12);
    expect(advantages[1]).toEqual([0, 0]);
  });

  it("global scope uses the group's mean, not the epoch's", () => {
    // group means 1 and 11; all rewards 0 2 10 12: mean 6, variance (36 + 16 + 16 + 36) / 4 = 26
    const { advantages } = groupAdvantages([[0, 2], [10, 12]]);
    const scale = Math.sqrt(26) + 1e-4;
    expect(advantages.flat()).toEqual([-1 / scale, 1 / scale, -1 / scale, 1 / scale].map((a) => expect.closeTo(a, 12)));
  });

  it("group scope: each group scaled by its own std; a flat group gets 0", () => {
    // group [1, 3]: mean 2, std 1; group [5, 5, 8, 8]: mean 6.5, std 1.5; group [2, 2]: std 0
    const { advantages } = groupAdvantages([[1, 3], [5, 5, 8, 8], [2, 2]], { stdScope: "group", epsilon: 1e-4, clip: 5 });
    expect(advantages[0]![0]).toBeCloseTo(-1 / 1.0001, 12);
    expect(advantages[1]![3]).toBeCloseTo(1.5 / 1.5001, 12);
    expect(advantages[2]).toEqual([0, 0]);
  });

  it("clamps to +-clip", () => {
    // 99 zeros and a one: mean 0.01, std sqrt(0.01 * 0.99) = 0.0995; the one is 0.99 / 0.0996 = 9.94 > 5
    const rewards = [[...new Array<number>(99).fill(0), 1]];
    const { advantages } = groupAdvantages(rewards, { stdScope: "group", epsilon: 1e-4, clip: 5 });
    expect(advantages[0]![99]).toBe(5);
    expect(advantages[0]![0]).toBeCloseTo(-0.01 / (Math.sqrt(0.0099) + 1e-4), 12);
    // one zero among 29 tens: mean 9.667, std 10 * sqrt(29) / 30 = 1.795, the zero is at -5.39
    const low = groupAdvantages([[0, ...new Array<number>(29).fill(10)]]);
    expect(low.advantages[0]![0]).toBe(-5);
  });

  it("reports the fraction of groups whose rewards are all equal, even when their float mean is inexact", () => {
    expect(groupAdvantages([[1, 1], [1, 2], [0.1, 0.1, 0.1]]).zeroStdGroupFraction).toBeCloseTo(2 / 3, 15);
    expect(groupAdvantages([]).zeroStdGroupFraction).toBeNaN();
  });

  it("rejects empty groups and non-finite rewards, naming the group and member", () => {
    expect(() => groupAdvantages([[1], []])).toThrow(new AdvantageInputError({ groupIndex: 1, memberIndex: -1, reason: "the group is empty" }));
    expect(() => groupAdvantages([[1, 2], [3, Number.NaN]])).toThrow(/group 1, member 1: the reward is NaN/);
  });
});

describe("populationStd", () => {
  it("divides by n, not n - 1", () => {
    expect(populationStd([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
  });
});
