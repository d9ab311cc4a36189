import { describe, it } from "vitest";
import type { RolloutKey } from "../rollout/rollout.ts";
import { collectEpoch } from "./collectEpoch.ts";
import { EpochMismatch } from "./errors.ts";
import { fakeKey, fakeSampled, marbleScheduler } from "../../test/stages/testing.ts";

const group = (groupId: number, epoch: number) => [fakeSampled(fakeKey(groupId, 0, epoch)), fakeSampled(fakeKey(groupId, 1, epoch))];
const groups = { a: group(8, 2), b: group(9, 2), x: group(10, 3) };

describe("collectEpoch", () => {
  it("emits the epoch's groups once its input completes", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold("-a--b--|", groups).pipe(collectEpoch(2))).toBe("-------(e|)", { e: { epoch: 2, groups: [groups.a, groups.b] } });
      expectObservable(cold<readonly RolloutKey[]>("--|").pipe(collectEpoch(2))).toBe("--(e|)", { e: { epoch: 2, groups: [] } });
    });
  });

  it("puts the groups in group order, whatever order they completed in", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold("-b--a--|", groups).pipe(collectEpoch(2))).toBe("-------(e|)", { e: { epoch: 2, groups: [groups.a, groups.b] } });
    });
  });

  it("errors on a group of another epoch and unsubscribes its input", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const input = cold("-a--x--b--|", groups);
      const error = new EpochMismatch({ expectedEpoch: 2, foundEpoch: 3, groupId: 10 });
      expectObservable(input.pipe(collectEpoch(2))).toBe("----#", undefined, error);
      expectSubscriptions(input.subscriptions).toBe("^---!");
    });
  });
});
