import { describe, it } from "vitest";
import { abortWhen } from "./abortWhen.ts";
import { marbleScheduler } from "../../test/stages/testing.ts";

describe("abortWhen", () => {
  it("passes the source through and ends with it when nothing faults", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const fault = cold<never>("-----------");
      expectObservable(cold("--a--b--c--|").pipe(abortWhen(fault))).toBe("--a--b--c--|");
      expectSubscriptions(fault.subscriptions).toBe("^----------!");
    });
  });

  it("a fault ends the stream at once with the fault's error and unsubscribes the source", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold("--a--b--c--|");
      expectObservable(source.pipe(abortWhen(cold<never>("------#", undefined, new Error("gone"))))).toBe("--a--b#", undefined, new Error("gone"));
      expectSubscriptions(source.subscriptions).toBe("^-----!");
    });
  });

  it("a fault in the first frame ends the stream before the source emits", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold("--a--|");
      expectObservable(source.pipe(abortWhen(cold<never>("#", undefined, "gone")))).toBe("#", undefined, "gone");
      expectSubscriptions(source.subscriptions).toBe("(^!)");
    });
  });
});
