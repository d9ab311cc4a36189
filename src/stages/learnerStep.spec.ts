import { describe, expect, it } from "vitest";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { learnerStep } from "./learnerStep.ts";
import { fakeEpoch, marbleScheduler } from "./testing.ts";

const epochs = { a: fakeEpoch(0, [[1, 2], [3, 4], [5, 6]]), b: fakeEpoch(1, [[7, 8]]) };
const report = (epoch: number, step: number, groups: number) => ({ kind: "generator", epoch, step, stats: { groups } });

describe("learnerStep", () => {
  it("takes groupsPerStep whole groups per optimiser step, one step at a time, epochs in order", () => {
    const calls: number[][][] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const learner = {
        step: (groups: readonly (readonly AdvantagedRollout[])[]) => {
          calls.push(groups.map((group) => group.map((row) => row.reward)));
          return cold("--(s|)", { s: { groups: groups.length } });
        },
      };
      expectObservable(cold("-ab|", epochs).pipe(learnerStep(learner, { groupsPerStep: 2 }))).toBe("---x-y-(z|)", {
        x: report(0, 0, 2),
        y: report(0, 1, 1),
        z: report(1, 0, 1),
      });
    });
    expect(calls).toEqual([[[1, 2], [3, 4]], [[5, 6]], [[7, 8]]]);
  });

  it("propagates a learner error and unsubscribes its input; no step runs after it", () => {
    let calls = 0;
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const nan = new Error("loss is NaN");
      const learner = { step: () => (++calls === 2 ? cold<{ groups: number }>("-#", undefined, nan) : cold("-(s|)", { s: { groups: 2 } })) };
      const input = cold("-a-b-|", epochs);
      expectObservable(input.pipe(learnerStep(learner, { groupsPerStep: 2 }))).toBe("--x#", { x: report(0, 0, 2) }, nan);
      expectSubscriptions(input.subscriptions).toBe("^--!");
    });
    expect(calls).toBe(2);
  });
});
