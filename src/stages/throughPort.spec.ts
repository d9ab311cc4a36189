import { describe, expect, it } from "vitest";
import type { RolloutKey } from "../rollout/rollout.ts";
import { PortContractError } from "./errors.ts";
import { throughPort } from "./throughPort.ts";
import { failedMember } from "./types.ts";
import { fakeKey, marbleScheduler } from "../../test/stages/testing.ts";

const [a, b, c, d] = [fakeKey(0, 0), fakeKey(0, 1), fakeKey(1, 0), fakeKey(1, 1)];
const merge = (row: RolloutKey, out: number) => ({ ...row, out });

describe("throughPort", () => {
  it("calls the port per batch, at most `concurrency` at once, and merges each result into its row", () => {
    const calls: number[][] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = (rows: readonly RolloutKey[]) => {
        calls.push(rows.map((r) => r.member + 10 * r.groupId));
        return cold("----(r|)", { r: rows.map((r) => r.member + 10 * r.groupId) });
      };
      const input = cold("-abcd|", { a, b, c, d });
      // batch [a b] calls at frame 2 and answers at 6; [c d] waits for it (concurrency 1), calls at 6, answers at 10
      expectObservable(input.pipe(throughPort("stage", { batchSize: 2, concurrency: 1 }, port, merge))).toBe("------(ab)(cd|)", {
        a: merge(a, 0),
        b: merge(b, 1),
        c: merge(c, 10),
        d: merge(d, 11),
      });
    });
    expect(calls).toEqual([[0, 1], [10, 11]]);
  });

  it("failed members keep their place without reaching the port; a batch of only failed members calls nothing", () => {
    const calls: number[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = (rows: readonly RolloutKey[]) => {
        calls.push(rows.length);
        return cold("-(r|)", { r: rows.map((r) => r.member) });
      };
      const fb = failedMember(b, "sampleBatches", "nan");
      const fc = failedMember(c, "sampleBatches", "nan");
      const fd = failedMember(d, "sampleBatches", "nan");
      const input = cold("-ab----c(d|)", { a, b: fb, c: fc, d: fd });
      expectObservable(input.pipe(throughPort("stage", { batchSize: 2, concurrency: 2 }, port, merge))).toBe("---(ab)-(cd|)", {
        a: merge(a, 0),
        b: fb,
        c: fc,
        d: fd,
      });
    });
    expect(calls).toEqual([1]);
  });

  it("a port error turns its batch's rows into failed members of this stage; other batches go on", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = (rows: readonly RolloutKey[]) => (rows[0]!.groupId === 0 ? cold<readonly number[]>("-#", undefined, "oom") : cold("-(r|)", { r: rows.map(() => 7) }));
      const input = cold("-ab----cd|", { a, b, c, d });
      expectObservable(input.pipe(throughPort("extractFeatures", { batchSize: 2, concurrency: 2 }, port, merge))).toBe("---(ab)--(cd|)", {
        a: failedMember(a, "extractFeatures", "oom"),
        b: failedMember(b, "extractFeatures", "oom"),
        c: merge(c, 7),
        d: merge(d, 7),
      });
    });
  });

  it("a result that does not line up with its rows fails the stream with a contract error", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = () => cold("-(r|)", { r: [1] });
      const input = cold("-ab|", { a, b });
      expectObservable(input.pipe(throughPort("scoreRewards", { batchSize: 2, concurrency: 1 }, port, merge))).toBe(
        "---#",
        undefined,
        new PortContractError({ stage: "scoreRewards", expected: "one result per row (2)", found: "1 results" }),
      );
    });
  });
});
