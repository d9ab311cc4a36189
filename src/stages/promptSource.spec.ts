import { lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { StageOptionError } from "./errors.ts";
import { promptSource, type PromptSourceOptions } from "./promptSource.ts";
import { marbleScheduler } from "../../test/stages/testing.ts";
import type { PromptItem } from "./types.ts";

const prompts = ["a red circle", "a blue square", "a green triangle", "two yellow stars", "a purple ring"];
const options: PromptSourceOptions = { prompts, promptsPerEpoch: 5, epochs: 4, seed: 11 };
const all = (o: PromptSourceOptions): Promise<PromptItem[]> => lastValueFrom(promptSource(o).pipe(toArray()));

describe("promptSource", () => {
  it("emits epoch by epoch, synchronously, in an order fixed by the seed (pinned: resume relies on it)", () => {
    marbleScheduler().run(({ expectObservable }) => {
      // Computed outside this code base (a Python transcription of prng.ts and seeds.ts).
      const order = [1, 0, 3, 4, 2, 1, 4, 0, 3, 2];
      const items = order.map((promptIndex, i) => ({ epoch: Math.floor(i / 5), prompt: prompts[promptIndex], promptIndex, groupId: i }));
      expectObservable(promptSource({ ...options, epochs: 2 })).toBe("(abcdefghij|)", Object.fromEntries(items.map((item, i) => ["abcdefghij"[i], item])));
    });
  });

  it("is deterministic in the seed, reshuffles every epoch, and numbers groups uniquely across the run", async () => {
    const run = await all(options);
    expect(await all(options)).toEqual(run);
    expect((await all({ ...options, seed: 12 })).map((item) => item.promptIndex)).not.toEqual(run.map((item) => item.promptIndex));
    const epochs = [0, 1, 2, 3].map((epoch) => run.filter((item) => item.epoch === epoch));
    for (const epoch of epochs) expect(epoch.map((item) => item.promptIndex).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(epochs.map((epoch) => epoch.map((item) => item.promptIndex).join())).size).toBeGreaterThan(1);
    expect(run.map((item) => item.groupId)).toEqual([...Array(20).keys()]);
    expect(run.every((item) => item.prompt === prompts[item.promptIndex])).toBe(true);
  });

  it("resumes at an epoch with exactly the tail of the full run", async () => {
    const run = await all(options);
    expect(await all({ ...options, startEpoch: 2 })).toEqual(run.filter((item) => item.epoch >= 2));
    expect(await all({ ...options, startEpoch: 4 })).toEqual([]);
  });

  it("walks several shuffles when an epoch needs more prompts than there are", async () => {
    const run = await all({ ...options, promptsPerEpoch: 12, epochs: 1 });
    const counts = prompts.map((_, i) => run.filter((item) => item.promptIndex === i).length);
    expect(counts.every((count) => count === 2 || count === 3)).toBe(true);
    expect(run.map((item) => item.groupId)).toEqual([...Array(12).keys()]);
  });

  it("rejects options it cannot honour", () => {
    expect(() => promptSource({ ...options, prompts: [] })).toThrow(StageOptionError);
    expect(() => promptSource({ ...options, promptsPerEpoch: 0 })).toThrow(/promptsPerEpoch' must be a positive integer/);
    expect(() => promptSource({ ...options, startEpoch: 5 })).toThrow(/startEpoch' must be an integer in 0..4, found 5/);
  });
});
