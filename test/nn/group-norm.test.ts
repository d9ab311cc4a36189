import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { groupNorm as groupNormOp } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { groupNorm } from "../../src/nn/layers.ts";
import { ParamScope } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";

// Its gradient is the composition of rules each checked against finite differences (LayerNormalization, Reshape,
// Mul, Add in rules.test.ts), and test/train trains a model through it.
describe("groupNorm layer (LayerNormalization over groups, then the per-channel affine)", () => {
  it("computes what ONNX GroupNormalization computes, weights and bias included", async () => {
    const shape = [2, 6, 3, 4];
    const g = new Graph("group-norm");
    const scope = new ParamScope(g, {});
    const x = g.input("x", "float32", shape);
    g.output(groupNorm(scope.child("norm"), x, 3), "layer");
    g.output(groupNormOp(x, scope.tensor("norm.weight"), scope.tensor("norm.bias"), 3), "reference");
    const rng = makeRng(11);
    const session = await LocalSession.create("group-norm", toOnnx(g));
    const out = await session.run({
      x: f32(shape, rng.fillNormal(new Float32Array(144)).map((v) => 3 * v + 1)),
      "norm.weight": f32([6], rng.fillNormal(new Float32Array(6))),
      "norm.bias": f32([6], rng.fillNormal(new Float32Array(6))),
    });
    await session.release();
    const [layer, reference] = [out.layer!.data as Float32Array, out.reference!.data as Float32Array];
    reference.forEach((r, i) => expect(Math.abs(layer[i]! - r)).toBeLessThan(1e-5));
  });
});
