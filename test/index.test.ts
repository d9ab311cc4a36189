/**
 * The package as a consumer sees it: imported by name through package.json's `exports`, and used. The
 * expected numbers come from the specification (docs/algorithm.md §1 and §5), not from the code.
 */
import { describe, expect, it } from "vitest";
import * as advgrpo from "advgrpo";

describe("the advgrpo package", () => {
  it("resolves by name through package.json's exports to src/index.ts", async () => {
    expect(advgrpo.sigmaSchedule).toBe((await import("../src/index.ts")).sigmaSchedule);
  });

  it("gives the specification's SD3.5 schedule for 10 steps at shift 3", () => {
    const spec = [1.0, 0.9601, 0.9133, 0.8577, 0.7904, 0.7073, 0.6022, 0.4649, 0.278, 0.0089, 0];
    const { sigmas } = advgrpo.sigmaSchedule(10, 3);
    expect(sigmas).toHaveLength(spec.length);
    sigmas.forEach((sigma, i) => expect(sigma, `sigma_${i}`).toBeCloseTo(spec[i]!, 4));
  });

  it("normalises rewards inside each group by the epoch's population std, as the default says", () => {
    // All six rewards: mean 3.5, population variance 15.5 / 6.
    const scale = Math.sqrt(15.5 / 6) + 1e-4;
    const { advantages, zeroStdGroupFraction } = advgrpo.groupAdvantages([[1, 2, 3], [5, 5, 5]]);
    expect(advantages[0]![0]).toBeCloseTo(-1 / scale, 12);
    expect(advantages[0]![1]).toBe(0);
    expect(advantages[0]![2]).toBeCloseTo(1 / scale, 12);
    expect(advantages[1]).toEqual([0, 0, 0]);
    expect(zeroStdGroupFraction).toBe(0.5);
  });
});
