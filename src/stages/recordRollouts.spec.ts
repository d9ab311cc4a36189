import { describe, expect, it } from "vitest";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { recordRollouts } from "./recordRollouts.ts";
import { fakeEpoch, marbleScheduler } from "../../test/stages/testing.ts";

const epochs = { a: fakeEpoch(0, [[1, 2], [3, 4]]), b: fakeEpoch(1, [[5, 6]]) };

describe("recordRollouts", () => {
  it("passes an epoch on only after the recorder acknowledged its rows, one epoch at a time", () => {
    const recorded: number[][] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const recorder = {
        record: (rows: readonly AdvantagedRollout[]) => {
          recorded.push(rows.map((row) => row.reward));
          return cold("---(k|)", { k: { rowsWritten: rows.length } });
        },
      };
      expectObservable(cold("-ab|", epochs).pipe(recordRollouts(recorder))).toBe("----a--(b|)", epochs);
    });
    expect(recorded).toEqual([[1, 2, 3, 4], [5, 6]]);
  });

  it("propagates a recorder error and unsubscribes its input", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const diskFull = new Error("ENOSPC");
      const recorder = { record: () => cold<{ rowsWritten: number }>("--#", undefined, diskFull) };
      const input = cold("-a-----b|", epochs);
      expectObservable(input.pipe(recordRollouts(recorder))).toBe("---#", undefined, diskFull);
      expectSubscriptions(input.subscriptions).toBe("^--!");
    });
  });
});
