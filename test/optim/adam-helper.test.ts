import { describe, expect, it } from "vitest";
import { AdamHelper } from "../../src/optim/kernels/adam-helper.ts";

describe("the optimiser's helper thread", () => {
  it("a block it fails on reports what the thread threw, with its stack there", () => {
    const helper = AdamHelper.get();
    // An arena id no optimiser registered: the kernel lookup throws inside the helper thread.
    helper.offer(1, [987_654, 0, 0, 0, 0, 1]);
    let error: unknown;
    try {
      helper.awaitDone(1);
    } catch (caught) {
      error = caught;
    } finally {
      helper.release(1);
    }
    expect(error).toMatchObject({ _tag: "OptimizerHelperFailed", slot: 1, causeName: "Error", causeMessage: "no arena 987654" });
    expect((error as Error).message).toMatch(/^the optimiser's helper thread failed on a block \(slot 1\): Error: no arena 987654\n {2}in the helper thread:\n +at .*adam-helper-thread\.ts:\d+/);
  });
});
