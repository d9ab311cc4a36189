/** The scoring port joins a group's rows with the composition root's feature layout, never one guessed from a row. */
import { lastValueFrom } from "rxjs";
import { describe, expect, it } from "vitest";
import type { Features } from "../../src/models/backbone/features.ts";
import { rolloutPorts, StageClock } from "../../src/pipeline/adapters.ts";
import type { Policy } from "../../src/pipeline/policy.ts";
import type { RewardModel } from "../../src/pipeline/reward-model.ts";
import type { FeaturedRollout } from "../../src/rollout/rollout.ts";
import { fakeFeatured, fakeKey } from "../stages/testing.ts";

const layout = { dim: 2, patchCount: 3, pooledDim: 2 };

/** Rows of one group whose tokens are views into one backbone batch, as the features port returns them. */
const group = (size: number): FeaturedRollout[] => {
  const cls = Float32Array.from({ length: size * 2 }, (_, i) => i);
  const patches = Float32Array.from({ length: size * 6 }, (_, i) => 100 + i);
  const pooled = Float32Array.from({ length: size * 2 }, (_, i) => -i);
  return Array.from({ length: size }, (_, i) => ({
    ...fakeFeatured(fakeKey(0, i)),
    cls: cls.subarray(2 * i, 2 * i + 2),
    patches: patches.subarray(6 * i, 6 * i + 6),
    pooled: pooled.subarray(2 * i, 2 * i + 2),
  }));
};

/** The reward model sees the joined batch; it scores every row 0. */
const scoring = () => {
  const seen: Features[] = [];
  const rewards = {
    score: async (_images: unknown, prompts: readonly string[], features: Features) => {
      seen.push(features);
      const zeros = prompts.map(() => 0);
      return { components: { adversarial: zeros }, total: zeros, clsLogits: zeros, patchLogits: zeros };
    },
  } as unknown as RewardModel;
  return { seen, port: rolloutPorts({ policy: {} as Policy, rewards, layout, clock: new StageClock() }).rewards };
};

describe("the reward port's feature batch", () => {
  it("is the group's backbone batch itself, shaped by the layout", async () => {
    const rows = group(3);
    const { seen, port } = scoring();
    await lastValueFrom(port.score(rows));
    const [features] = seen;
    expect({ batch: features!.batch, dim: features!.dim, patchCount: features!.patchCount, pooledDim: features!.pooledDim }).toEqual({ batch: 3, ...layout });
    expect(features!.patches.buffer).toBe(rows[0]!.patches.buffer);
    expect(Array.from(features!.patches)).toEqual(Array.from({ length: 18 }, (_, i) => 100 + i));
  });

  it("refuses a row whose tokens do not fit the layout, naming the row and the field", async () => {
    const rows = group(2);
    const odd = { ...rows[1]!, patches: rows[1]!.patches.subarray(0, 4) };
    const { seen, port } = scoring();
    await expect(lastValueFrom(port.score([rows[0]!, odd]))).rejects.toThrow("features of row 1: 'patches' has 4 values, the backbone's layout (D 2, N 3, P 2) gives 6");
    expect(seen).toEqual([]);
  });
});
