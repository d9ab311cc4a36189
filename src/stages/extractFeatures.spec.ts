import { describe, expect, it } from "vitest";
import { extractFeatures } from "./extractFeatures.ts";
import type { SampledRollout } from "../rollout/rollout.ts";
import { fakeFeatured, fakeKey, fakeSampled, marbleScheduler } from "../../test/stages/testing.ts";
import { failedMember } from "./types.ts";

const keys = [fakeKey(0, 0), fakeKey(0, 1), fakeKey(1, 0)] as const;
const tokens = (image: SampledRollout) => {
  const member = Float32Array.of(image.image[1]!);
  return { cls: member, patches: member, pooled: member };
};

describe("extractFeatures", () => {
  it("adds the backbone's tokens to each row; failed members pass by the port untouched", () => {
    const seen: number[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = {
        extract: (images: readonly SampledRollout[]) => {
          seen.push(images.length);
          return cold("--(r|)", { r: images.map(tokens) });
        },
      };
      const failed = failedMember(keys[1], "sampleBatches", new Error("nan latents"));
      const input = cold("-a-f-b-|", { a: fakeSampled(keys[0]), f: failed, b: fakeSampled(keys[2]) });
      expectObservable(input.pipe(extractFeatures(port, { batchSize: 2, concurrency: 1 }))).toBe("-----(af)(b|)", {
        a: fakeFeatured(keys[0]),
        f: failed,
        b: fakeFeatured(keys[2]),
      });
    });
    expect(seen).toEqual([1, 1]);
  });
});
