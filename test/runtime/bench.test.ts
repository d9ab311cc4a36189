import { describe, expect, it } from "vitest";
import { benchMatMul } from "../../src/runtime/bench.ts";

describe("benchMatMul", () => {
  it("reports the median time and the GFLOP/s it implies", async () => {
    const result = await benchMatMul(64, { warmup: 1, runs: 3 });
    expect(result.n).toBe(64);
    expect(result.ms).toBeGreaterThan(0);
    expect(result.gflops).toBeCloseTo((2 * 64 ** 3) / (result.ms * 1e6), 9);
  });
});
