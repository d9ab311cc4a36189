import { describe, expect, it } from "vitest";
import { discriminatorStep } from "./discriminatorStep.ts";
import type { DiscriminatorBatch, ReferenceFeatures } from "./ports.ts";
import { fakeEpoch, marbleScheduler } from "../../test/stages/testing.ts";

const epochs = { a: fakeEpoch(0, [[1, 2], [3, 4]]), b: fakeEpoch(1, [[5, 6]]) };
const reference = (promptIndex: number): ReferenceFeatures => {
  const feature = Float32Array.of(promptIndex);
  return { promptIndex, cls: feature, patches: feature, pooled: feature };
};

describe("discriminatorStep", () => {
  it("fetches the references of the epoch's prompts, then takes one full-batch step per epoch", () => {
    const asked: number[][] = [];
    const batches: DiscriminatorBatch[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const references = {
        forPrompts: (promptIndices: readonly number[]) => {
          asked.push([...promptIndices]);
          return cold("-(r|)", { r: promptIndices.map(reference) });
        },
      };
      const discriminator = {
        step: (batch: DiscriminatorBatch) => {
          batches.push(batch);
          return cold("--(s|)", { s: { accuracy: 0.75 } });
        },
      };
      expectObservable(cold("-a-b|", epochs).pipe(discriminatorStep(discriminator, references))).toBe("----x--(y|)", {
        x: { kind: "discriminator", epoch: 0, stats: { accuracy: 0.75 } },
        y: { kind: "discriminator", epoch: 1, stats: { accuracy: 0.75 } },
      });
    });
    expect(asked).toEqual([[0, 1], [0]]);
    expect(batches[0]).toEqual({ epoch: 0, references: [reference(0), reference(1)], generated: epochs.a.groups.flat() });
  });

  it("propagates a reference lookup error", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const missing = new Error("no references for prompt 1");
      const references = { forPrompts: () => cold<readonly ReferenceFeatures[]>("-#", undefined, missing) };
      const discriminator = { step: () => cold("-(s|)", { s: {} }) };
      const input = cold("-a-b|", epochs);
      expectObservable(input.pipe(discriminatorStep(discriminator, references))).toBe("--#", undefined, missing);
      expectSubscriptions(input.subscriptions).toBe("^-!");
    });
  });
});
