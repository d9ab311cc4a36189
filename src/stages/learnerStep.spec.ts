import { describe, expect, it } from "vitest";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { evenSplit, learnerStep } from "./learnerStep.ts";
import { fakeEpoch, marbleScheduler } from "../../test/stages/testing.ts";

const epochs = { a: fakeEpoch(0, [[1, 2], [3, 4], [5, 6]]), b: fakeEpoch(1, [[7, 8]]) };
const report = (epoch: number, step: number, groups: number) => ({ kind: "generator", epoch, step, stats: { groups } });

describe("learnerStep", () => {
  it("deals an epoch's whole groups into stepsPerEpoch steps, larger first, one step at a time, epochs in order", () => {
    const calls: number[][][] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const learner = {
        step: (groups: readonly (readonly AdvantagedRollout[])[]) => {
          calls.push(groups.map((group) => group.map((row) => row.reward)));
          return cold("--(s|)", { s: { groups: groups.length } });
        },
      };
      expectObservable(cold("-ab|", epochs).pipe(learnerStep(learner, { stepsPerEpoch: 2 }))).toBe("---x-y-(z|)", {
        x: report(0, 0, 2),
        y: report(0, 1, 1),
        z: report(1, 0, 1),
      });
    });
    expect(calls).toEqual([[[1, 2], [3, 4]], [[5, 6]], [[7, 8]]]);
  });

  it("takes exactly stepsPerEpoch steps whenever there are that many groups (5 steps of 8 groups: 2+2+2+1+1)", () => {
    const groups = Array.from({ length: 8 }, (_, i) => i);
    expect(evenSplit(groups, 5).map((s) => s.length)).toEqual([2, 2, 2, 1, 1]);
    expect(evenSplit(groups, 3).map((s) => s.length)).toEqual([3, 3, 2]);
    expect(evenSplit(groups, 8).map((s) => s.length)).toEqual(Array(8).fill(1));
    expect(evenSplit(groups.slice(0, 2), 5).map((s) => s.length)).toEqual([1, 1]);
    expect(evenSplit(groups, 5).flat()).toEqual(groups);
  });

  it("propagates a learner error and unsubscribes its input; no step runs after it", () => {
    let calls = 0;
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const nan = new Error("loss is NaN");
      const learner = { step: () => (++calls === 2 ? cold<{ groups: number }>("-#", undefined, nan) : cold("-(s|)", { s: { groups: 2 } })) };
      const input = cold("-a-b-|", epochs);
      expectObservable(input.pipe(learnerStep(learner, { stepsPerEpoch: 2 }))).toBe("--x#", { x: report(0, 0, 2) }, nan);
      expectSubscriptions(input.subscriptions).toBe("^--!");
    });
    expect(calls).toBe(2);
  });
});
