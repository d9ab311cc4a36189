import { describe, expect, it } from "vitest";
import { benchMatMul } from "../../src/bench/matmul.ts";
import { gflops } from "../../src/util/measure.ts";

describe("benchMatMul", () => {
  it("reports the median time and the throughput of 2 * 64^3 = 524,288 FLOPs in it", async () => {
    const result = await benchMatMul(64, { warmup: 1, runs: 3 });
    expect(result.n).toBe(64);
    expect(result.ms).toBeGreaterThan(0);
    // GFLOP/s x ms = FLOPs / 1e6, whatever the timing was.
    expect(result.gflops * result.ms).toBeCloseTo(0.524288, 9);
  });

  it("converts FLOPs and milliseconds to GFLOP/s", () => {
    expect(gflops(2e9, 1000)).toBe(2);
    expect(gflops(524_288, 0.5)).toBeCloseTo(1.048576, 12);
  });
});
