import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { reshape, transpose } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { conv2d, patchEmbed } from "../../src/nn/layers.ts";
import { initParams, ParamScope } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";

describe("patchEmbed", () => {
  it("gives the tokens of a patch-strided conv2d with the same parameters, in row-major patch order", async () => {
    const [b, c, h, w, d, p] = [2, 3, 8, 12, 5, 4];
    const g = new Graph("patches");
    const scope = new ParamScope(g, {});
    const x = g.input("x", "float32", [b, c, h, w]);
    g.output(patchEmbed(scope.child("embed"), x, d, p), "tokens");
    const viaConv = conv2d(scope.child("embed"), x, d, { kernel: p, stride: p });
    g.output(transpose(reshape(viaConv, [b, d, (h / p) * (w / p)]), [0, 2, 1]), "reference");
    // One weight and one bias: conv2d found the parameters patchEmbed declared (same names, shapes).
    expect(scope.specs.map((s) => `${s.name} [${s.shape.join(",")}]`)).toEqual(["embed.weight [5,3,4,4]", "embed.bias [5]"]);
    const rng = makeRng(8);
    const session = await LocalSession.create("patches", toOnnx(g));
    const out = await session.run({
      x: f32([b, c, h, w], rng.fillNormal(new Float32Array(b * c * h * w))),
      ...Object.fromEntries(initParams(scope.specs, 2).map((t) => [t.name, f32(t.shape, t.data)])),
    });
    await session.release();
    const [tokens, reference] = [out.tokens!.data as Float32Array, out.reference!.data as Float32Array];
    expect(out.tokens!.shape).toEqual([b, 6, d]);
    reference.forEach((r, i) => expect(Math.abs(tokens[i]! - r)).toBeLessThan(1e-5));
  });

  it("refuses an image that is not a whole number of patches", () => {
    const g = new Graph("patches");
    expect(() => patchEmbed(new ParamScope(g, {}).child("embed"), g.input("x", "float32", [1, 3, 10, 8]), 4, 4)).toThrow("a 10x8 image is not a whole number of 4x4 patches (embed.)");
  });
});
