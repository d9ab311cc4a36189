import { describe, it } from "vitest";
import type { FeaturedRollout } from "../rollout/rollout.ts";
import { scoreRewards } from "./scoreRewards.ts";
import { fakeFeatured, fakeKey, fakeScored, marbleScheduler } from "../../test/stages/testing.ts";
import { failedMember } from "./types.ts";

const keys = [fakeKey(0, 0), fakeKey(0, 1), fakeKey(1, 0)] as const;
const score = (row: FeaturedRollout) => {
  const reward = row.member + 0.5;
  return { rewards: { fake: reward }, reward, discLogitCls: reward, discLogitPatch: reward };
};

describe("scoreRewards", () => {
  it("adds reward components, total and logits to each row", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = { score: (rows: readonly FeaturedRollout[]) => cold("-(r|)", { r: rows.map(score) }) };
      const input = cold("-a-b-c-|", { a: fakeFeatured(keys[0]), b: fakeFeatured(keys[1]), c: fakeFeatured(keys[2]) });
      expectObservable(input.pipe(scoreRewards(port, { batchSize: 2, concurrency: 2 }))).toBe("----(ab)(c|)", {
        a: fakeScored(keys[0], 0.5),
        b: fakeScored(keys[1], 1.5),
        c: fakeScored(keys[2], 0.5),
      });
    });
  });

  it("marks the rows of a failed call as failed members of this stage", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const boom = new Error("reward model crashed");
      const port = { score: () => cold<readonly ReturnType<typeof score>[]>("-#", undefined, boom) };
      const input = cold("-a-b|", { a: fakeFeatured(keys[0]), b: fakeFeatured(keys[1]) });
      expectObservable(input.pipe(scoreRewards(port, { batchSize: 2, concurrency: 1 }))).toBe("----(ab|)", {
        a: failedMember(keys[0], "scoreRewards", boom),
        b: failedMember(keys[1], "scoreRewards", boom),
      });
    });
  });
});
