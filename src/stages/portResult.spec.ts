import { describe, it } from "vitest";
import { portResult } from "./portResult.ts";
import { PortContractError } from "./errors.ts";
import { marbleScheduler } from "../../test/stages/testing.ts";

describe("portResult", () => {
  it("takes a call's first result and ends the call there", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const call = cold("--a--b--|");
      expectObservable(call.pipe(portResult("stage"))).toBe("--(a|)");
      expectSubscriptions(call.subscriptions).toBe("^-!");
    });
  });

  it("a call that completes without a result is a contract error naming the stage", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold("---|").pipe(portResult("scoreRewards"))).toBe("---#", undefined, new PortContractError({ stage: "scoreRewards", expected: "one result", found: "no result" }));
    });
  });

  it("a call's own error passes through", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold("--#", undefined, "busy").pipe(portResult("stage"))).toBe("--#", undefined, "busy");
    });
  });
});
