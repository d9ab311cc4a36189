import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { add, matmul, mul, reshape, softmax, split, transpose } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { selfAttention } from "../../src/nn/layers.ts";
import { initParams, ParamScope } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";

const [b, t, d, heads] = [2, 5, 8, 2];
const dh = d / heads;

/** Attention the textbook way: one [B,T,3D] projection, split, heads transposed, scores scaled, softmax. */
const reference = (x: ReturnType<Graph["input"]>, w: ReturnType<Graph["input"]>[]) => {
  const qkv = reshape(add(matmul(x, w[0]!), w[1]!), [b, t, 3, heads, dh]);
  const [q, k, v] = split(transpose(qkv, [2, 0, 3, 1, 4]), [1, 1, 1], 0).map((p) => reshape(p, [b, heads, t, dh]));
  const scores = mul(matmul(q!, transpose(k!, [0, 1, 3, 2])), 1 / Math.sqrt(dh));
  const merged = reshape(transpose(matmul(softmax(scores, -1), v!), [0, 2, 1, 3]), [b, t, d]);
  return add(matmul(merged, w[2]!), w[3]!);
};

describe("selfAttention", () => {
  it("computes textbook multi-head attention from the same fused qkv parameters", async () => {
    const g = new Graph("attention");
    const scope = new ParamScope(g, {});
    const x = g.input("x", "float32", [b, t, d]);
    g.output(selfAttention(scope.child("attn"), x, heads), "layer");
    g.output(reference(x, ["attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias"].map((n) => scope.tensor(n))), "reference");
    const rng = makeRng(3);
    const params = initParams(scope.specs, 4);
    const session = await LocalSession.create("attention", toOnnx(g));
    const out = await session.run({ x: f32([b, t, d], rng.fillNormal(new Float32Array(b * t * d))), ...Object.fromEntries(params.map((p) => [p.name, f32(p.shape, p.data)])) });
    await session.release();
    const [layer, expected] = [out.layer!.data as Float32Array, out.reference!.data as Float32Array];
    expect(expected.some((v) => v !== 0)).toBe(true);
    expected.forEach((r, i) => expect(Math.abs(layer[i]! - r)).toBeLessThan(1e-5));
  });

  it("moves each activation once: one Transpose per q, k, v and output, and Splits only of parameters", () => {
    const g = new Graph("attention");
    const scope = new ParamScope(g, {});
    const x = g.input("x", "float32", [b, t, d]);
    const before = g.nodes.length;
    selfAttention(scope.child("attn"), x, heads);
    const nodes = g.nodes.slice(before);
    expect(nodes.filter((n) => n.op === "Transpose")).toHaveLength(4);
    const params = new Set(scope.specs.map((s) => scope.tensor(s.name)));
    expect(nodes.filter((n) => n.op === "Split").every((n) => params.has(n.inputs[0]!))).toBe(true);
  });
});
