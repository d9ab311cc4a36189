import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { ntXent } from "../../src/pretrain-backbone/contrastive.ts";
import { teacherTargets } from "../../src/pretrain-backbone/dino.ts";
import { GLOBAL_CROP, randomView } from "../../src/pretrain-backbone/augment.ts";
import { GROUP_SIZE, sampleGroup } from "../../src/pretrain-backbone/world-images.ts";
import { makeRng } from "../../src/util/prng.ts";
import { gradCheck } from "../autodiff/gradcheck.ts";

describe("backbone pretraining objectives", () => {
  it("NT-Xent matches a hand-worked case", async () => {
    const g = new Graph("ntxent");
    const z = g.input("z", "float32", [4, 2]);
    g.output(ntXent(g, z, 1), "loss");
    const session = await LocalSession.create("ntxent", toOnnx(g));
    // Two images with orthogonal directions, both views identical: each row sees its positive at cos 1
    // and two negatives at cos 0, so the loss is -log(e / (e + 2)).
    const out = await session.run({ z: f32([4, 2], [3, 0, 0, 2, 1, 0, 0, 5]) });
    expect(out.loss!.data[0]).toBeCloseTo(Math.log(1 + 2 / Math.E), 5);
    await session.release();
  });

  it("NT-Xent differentiates correctly", async () => {
    const report = await gradCheck({ inputs: { z: { shape: [6, 3] } }, build: ({ z }) => ntXent(z!.graph, z!, 0.5) });
    expect(report.checked).toBe(18);
  });

  it("centres and sharpens the teacher's logits", () => {
    const { probs, mean } = teacherTargets(Float32Array.from([1, 2, 0, 0]), Float32Array.from([0, 1]), 0.5);
    expect(Array.from(probs.subarray(0, 2))).toEqual([0.5, 0.5]);
    expect(probs[3]).toBeCloseTo(1 / (1 + Math.exp(2)), 6); // (0 - 1) / 0.5 = -2 against 0
    expect(Array.from(mean)).toEqual([0.5, 1]);
  });

  it("draws groups of one geometry in every style plus a degraded copy, reproducibly", () => {
    const group = sampleGroup(makeRng(4), 32);
    expect(group.length).toBe(GROUP_SIZE);
    expect(sampleGroup(makeRng(4), 32).map((im) => im.data)).toEqual(group.map((im) => im.data));
    const view = randomView(group[0]!, makeRng(1), GLOBAL_CROP, 32);
    expect(view.data.length).toBe(3 * 32 * 32);
    expect(Math.min(...view.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...view.data)).toBeLessThanOrEqual(1);
  });
});
