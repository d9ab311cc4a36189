import { tap } from "rxjs";
import { describe, expect, it } from "vitest";
import type { ScoredRollout } from "../rollout/rollout.ts";
import { computeAdvantages } from "./computeAdvantages.ts";
import { fakeKey, fakeScored, marbleScheduler } from "../../test/stages/testing.ts";
import type { AdvantagedEpoch, EpochBatch } from "./types.ts";

const batch = (epoch: number, rewards: readonly (readonly number[])[]): EpochBatch<ScoredRollout> => ({
  epoch,
  groups: rewards.map((group, g) => group.map((reward, m) => fakeScored(fakeKey(g, m, epoch), reward))),
});
const advantagesOf = (epoch: AdvantagedEpoch) => epoch.groups.map((group) => group.map((row) => row.advantage));

describe("computeAdvantages", () => {
  it("gives every row its group-relative advantage, one batch out per batch in, at the same frame", () => {
    const out: AdvantagedEpoch[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const advantaged = cold("-a---b-|", { a: batch(0, [[1, 3], [2, 2]]), b: batch(1, [[0, 1]]) }).pipe(
        computeAdvantages(),
        tap((epoch) => out.push(epoch)),
      );
      expectObservable(advantaged).toBe("-a---b-|", {
        a: expect.objectContaining({ epoch: 0, zeroStdGroupFraction: 0.5 }),
        b: expect.objectContaining({ epoch: 1, zeroStdGroupFraction: 0 }),
      });
    });
    // epoch 0: group means 2 and 2, global std sqrt(0.5); epoch 1: mean 0.5, std 0.5
    const a = 1 / (Math.SQRT1_2 + 1e-4);
    expect(advantagesOf(out[0]!)).toEqual([[-a, a], [0, 0]].map((group) => group.map((v) => expect.closeTo(v, 12))));
    expect(advantagesOf(out[1]!)).toEqual([[expect.closeTo(-0.5 / 0.5001, 12), expect.closeTo(0.5 / 0.5001, 12)]]);
    expect(out[0]!.groups[0]![1]).toMatchObject({ member: 1, reward: 3 });
  });

  it("honours the group std scope", () => {
    let result: AdvantagedEpoch | undefined;
    marbleScheduler().run(({ cold, flush }) => {
      cold("a|", { a: batch(0, [[1, 3], [10, 20]]) })
        .pipe(computeAdvantages({ stdScope: "group", epsilon: 1e-4, clip: 5 }))
        .subscribe((epoch) => (result = epoch));
      flush();
    });
    expect(advantagesOf(result!)[1]![1]).toBeCloseTo(5 / 5.0001, 12);
  });
});
