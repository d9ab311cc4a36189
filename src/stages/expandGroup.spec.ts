import { describe, expect, it } from "vitest";
import type { RolloutKey } from "../rollout/rollout.ts";
import { expandGroup, type ExpandGroupOptions, memberSeed } from "./expandGroup.ts";
import { marbleScheduler } from "../../test/stages/testing.ts";
import type { PromptItem } from "./types.ts";

const p: PromptItem = { epoch: 3, prompt: "a red circle", promptIndex: 1, groupId: 13 };
const q: PromptItem = { epoch: 3, prompt: "a blue square", promptIndex: 0, groupId: 14 };
const options: ExpandGroupOptions = { runId: "run-1", runSeed: 42, groupSize: 3, policyVersion: (epoch) => 10 * epoch };

/**
 * Seeds of (run seed 42, epoch 3, group 13 or 14, member 0..2), computed outside this code base (a Python
 * transcription of seeds.ts's hash), so a change to the derivation, which would change every run, fails here.
 */
const SEEDS: Readonly<Record<number, readonly number[]>> = {
  13: [1288720976, 2512080194, 4272048799],
  14: [298288648, 2452363340, 4208047657],
};

const key = (item: PromptItem, member: number): RolloutKey => ({
  runId: "run-1",
  epoch: item.epoch,
  policyVersion: 30,
  prompt: item.prompt,
  promptIndex: item.promptIndex,
  groupId: item.groupId,
  member,
  seed: SEEDS[item.groupId]![member]!,
});

describe("expandGroup", () => {
  it("emits G keys per prompt, members in order, at the prompt's frame", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const input = cold("-p------q----|", { p, q });
      expectObservable(input.pipe(expandGroup(options))).toBe("-(abc)--(def)|", {
        a: key(p, 0),
        b: key(p, 1),
        c: key(p, 2),
        d: key(q, 0),
        e: key(q, 1),
        f: key(q, 2),
      });
    });
  });

  it("derives distinct member seeds from run seed, epoch, group and member", () => {
    const seeds = new Set<number>();
    for (const runSeed of [0, 1]) {
      for (const epoch of [0, 1, 2 ** 33]) {
        for (const groupId of [0, 1, 7]) for (const member of [0, 1, 2, 3]) seeds.add(memberSeed(runSeed, epoch, groupId, member));
      }
    }
    expect(seeds.size).toBe(2 * 3 * 3 * 4);
    // Both 32-bit halves of an epoch beyond 2^32 count (same Python transcription as SEEDS).
    expect(memberSeed(0, 2 ** 33, 7, 3)).toBe(3407326169);
    expect([...seeds].every((seed) => Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)).toBe(true);
  });
});
