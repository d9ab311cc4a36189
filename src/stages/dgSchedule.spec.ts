import { concatMap, map, type OperatorFunction } from "rxjs";
import { describe, expect, it } from "vitest";
import { dgSchedule, intervalPhase } from "./dgSchedule.ts";
import { fakeEpoch, marbleScheduler } from "../../test/stages/testing.ts";
import type { AdvantagedEpoch } from "./types.ts";

const letters = "abcdefghijklmnopqrst";
const twentyEpochs = Object.fromEntries([...letters].map((letter, epoch) => [letter, fakeEpoch(epoch, [[1, 2]])]));
const label = (phase: string): OperatorFunction<AdvantagedEpoch, string> => map(() => phase);
const branches = { discriminator: label("D"), generator: label("G") };

describe("dgSchedule", () => {
  it("interval: d_times - 1 of every d_times epochs update only the discriminator, over 20 epochs", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const epochs = cold(`-${letters}|`, twentyEpochs);
      const phases = { D: "D", G: "G" };
      expectObservable(epochs.pipe(dgSchedule({ mode: "interval", dTimes: 10 }, branches))).toBe("-DDDDDDDDDGDDDDDDDDDG|", phases);
      expectObservable(epochs.pipe(dgSchedule({ mode: "interval", dTimes: 5 }, branches))).toBe("-DDDDGDDDDGDDDDGDDDDG|", phases);
      expectObservable(epochs.pipe(dgSchedule({ mode: "interval", dTimes: 1 }, branches))).toBe("-GGGGGGGGGGGGGGGGGGGG|", phases);
    });
    expect([0, 8, 9, 10, 19].map((epoch) => intervalPhase(epoch, 10))).toEqual(["discriminator", "discriminator", "generator", "discriminator", "generator"]);
  });

  it("runs each epoch's branch to completion before the next epoch enters", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const slow = (phase: string): OperatorFunction<AdvantagedEpoch, string> => concatMap(() => cold("---(x|)", { x: phase }));
      const epochs = cold("-abc|", twentyEpochs);
      expectObservable(epochs.pipe(dgSchedule({ mode: "interval", dTimes: 2 }, { discriminator: slow("D"), generator: slow("G") }))).toBe(
        "----D--G--(D|)",
        { D: "D", G: "G" },
      );
    });
  });

  it("trigger: the discriminator updates (and the generator skips) only when generated rewards beat the references", () => {
    const asked: number[][] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const referenceReward = {
        meanReward: (promptIndices: readonly number[]) => {
          asked.push([...promptIndices]);
          return cold("-(r|)", { r: 2 });
        },
      };
      const epochs = cold("-a-b-c-|", { a: fakeEpoch(0, [[1, 1]]), b: fakeEpoch(1, [[2, 4], [3, 3]]), c: fakeEpoch(2, [[1, 3]]) });
      expectObservable(epochs.pipe(dgSchedule({ mode: "trigger", referenceReward }, branches))).toBe("--G-D-G|", { D: "D", G: "G" });
    });
    expect(asked).toEqual([[0], [0, 1], [0]]);
  });

  it("propagates a branch error and unsubscribes the epochs", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const diverged = new Error("generator diverged");
      const failing: OperatorFunction<AdvantagedEpoch, string> = map(() => {
        throw diverged;
      });
      const epochs = cold("-abcd|", twentyEpochs);
      expectObservable(epochs.pipe(dgSchedule({ mode: "interval", dTimes: 2 }, { discriminator: label("D"), generator: failing }))).toBe(
        "-D#",
        { D: "D" },
        diverged,
      );
      expectSubscriptions(epochs.subscriptions).toBe("^-!");
    });
  });
});
