import { describe, expect, it } from "vitest";
import { gradients } from "../../src/autodiff/gradients.ts";
import { Graph, type Tensor } from "../../src/graph/graph.ts";
import * as op from "../../src/graph/ops.ts";
import { type GradCase, gradCheck } from "./gradcheck.ts";

const x23 = { shape: [2, 3] } as const;

/** One finite-difference check per backward rule (and per broadcasting / attribute variant that takes its own path). */
const cases: Record<string, GradCase> = {
  "Add with broadcasting": { inputs: { a: { shape: [2, 3, 4] }, b: { shape: [3, 1] } }, build: (t) => op.add(t.a!, t.b!) },
  "Sub with broadcasting": { inputs: { a: { shape: [4] }, b: { shape: [2, 4] } }, build: (t) => op.sub(t.a!, t.b!) },
  "Mul of a tensor by itself (x * x)": { inputs: { x: x23 }, build: (t) => op.mul(t.x!, t.x!) },
  "Sub and Add with one side constant (no gradient built for it)": {
    inputs: { a: x23, k: { shape: [3], values: [1, -2, 0.5] } },
    build: (t) => op.mul(op.sub(t.k!, t.a!), op.add(t.a!, t.k!)),
  },
  "Mul with broadcasting": { inputs: { a: { shape: [2, 1, 3] }, b: { shape: [4, 3] } }, build: (t) => op.mul(t.a!, t.b!) },
  "Div with broadcasting": { inputs: { a: x23, b: { shape: [3], positive: true } }, build: (t) => op.div(t.a!, t.b!) },
  "Pow (both operands)": { inputs: { a: { shape: [2, 3], positive: true }, b: { shape: [3] } }, build: (t) => op.pow(t.a!, t.b!) },
  Neg: { inputs: { x: x23 }, build: (t) => op.neg(t.x!) },
  Exp: { inputs: { x: x23 }, build: (t) => op.exp(t.x!) },
  Log: { inputs: { x: { shape: [2, 3], positive: true } }, build: (t) => op.log(t.x!) },
  Sqrt: { inputs: { x: { shape: [2, 3], positive: true } }, build: (t) => op.sqrt(t.x!) },
  Abs: { inputs: { x: x23 }, build: (t) => op.abs(t.x!) },
  Reciprocal: { inputs: { x: { shape: [2, 3], positive: true } }, build: (t) => op.reciprocal(t.x!) },
  Tanh: { inputs: { x: x23 }, build: (t) => op.tanh(t.x!) },
  Sigmoid: { inputs: { x: x23 }, build: (t) => op.sigmoid(t.x!) },
  // ORT fuses x * sigmoid(x) into QuickGelu, which has an fp32 kernel only.
  "SiLU (composed)": { dtype: "float32", inputs: { x: x23 }, build: (t) => op.silu(t.x!) },
  Relu: { inputs: { x: x23 }, build: (t) => op.relu(t.x!) },
  "Gelu (erf)": { dtype: "float32", inputs: { x: x23 }, build: (t) => op.gelu(t.x!, "none") },
  "Gelu (tanh)": { dtype: "float32", inputs: { x: x23 }, build: (t) => op.gelu(t.x!, "tanh") },
  Erf: { dtype: "float32", inputs: { x: x23 }, build: (t) => op.erf(t.x!) },
  Softplus: { dtype: "float32", inputs: { x: x23 }, build: (t) => op.softplus(t.x!) },
  Sin: { inputs: { x: x23 }, build: (t) => op.sin(t.x!) },
  Cos: { inputs: { x: x23 }, build: (t) => op.cos(t.x!) },
  "Min (binary, broadcasting)": { inputs: { a: x23, b: { shape: [3] } }, build: (t) => op.minimum(t.a!, t.b!) },
  "Max (binary, broadcasting)": { inputs: { a: x23, b: { shape: [3] } }, build: (t) => op.maximum(t.a!, t.b!) },
  "Clip (PPO ratio clip)": { inputs: { x: { shape: [3, 4] } }, build: (t) => op.clip(t.x!, -0.5, 0.7) },
  "Where (hinge-style)": { inputs: { x: x23, y: { shape: [3] } }, build: (t) => op.where(op.greater(t.x!, 0), t.x!, t.y!) },
  "Cast round trip": { dtype: "float32", inputs: { x: x23 }, build: (t) => op.cast(op.mul(op.cast(t.x!, "float64"), 2), "float32") },
  "MatMul 2-D": { inputs: { a: { shape: [3, 4] }, b: { shape: [4, 2] } }, build: (t) => op.matmul(t.a!, t.b!) },
  "MatMul batched with shared weight": { inputs: { a: { shape: [2, 3, 4] }, b: { shape: [4, 5] } }, build: (t) => op.matmul(t.a!, t.b!) },
  "MatMul batched, broadcast batch": { inputs: { a: { shape: [2, 2, 3, 4] }, b: { shape: [2, 1, 4, 2] } }, build: (t) => op.matmul(t.a!, t.b!) },
  ...Object.fromEntries(
    [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ].map(([transA, transB]) => [
      `Gemm transA=${transA} transB=${transB} with bias`,
      {
        inputs: { a: { shape: transA ? [4, 3] : [3, 4] }, b: { shape: transB ? [2, 4] : [4, 2] }, c: { shape: [2] } },
        build: (t) => op.gemm(t.a!, t.b!, t.c, { transA, transB, alpha: 0.7, beta: 1.3 }),
      } satisfies GradCase,
    ]),
  ),
  "Conv2d stride 2, padding 1, bias": {
    dtype: "float32",
    inputs: { x: { shape: [2, 3, 5, 5] }, w: { shape: [4, 3, 3, 3] }, b: { shape: [4] } },
    build: (t) => op.conv(t.x!, t.w!, t.b, { strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  "Conv2d dilation 2, asymmetric padding": {
    dtype: "float32",
    inputs: { x: { shape: [1, 2, 6, 5] }, w: { shape: [3, 2, 2, 3] } },
    build: (t) => op.conv(t.x!, t.w!, undefined, { dilations: [2, 2], pads: [1, 0, 0, 2] }),
  },
  "Conv2d groups 2": {
    dtype: "float32",
    inputs: { x: { shape: [1, 4, 4, 4] }, w: { shape: [6, 2, 3, 3] } },
    build: (t) => op.conv(t.x!, t.w!, undefined, { group: 2, pads: [1, 1, 1, 1] }),
  },
  "Conv2d stride 2 on an even size (ConvTranspose output padding 1), 3 offsets per axis": {
    dtype: "float32",
    inputs: { x: { shape: [2, 2, 6, 6] }, w: { shape: [3, 2, 3, 3] }, b: { shape: [3] } },
    build: (t) => op.conv(t.x!, t.w!, t.b, { strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  "Conv1d stride 3, dilation 2, uneven padding": {
    dtype: "float32",
    inputs: { x: { shape: [2, 2, 11] }, w: { shape: [3, 2, 3] } },
    build: (t) => op.conv(t.x!, t.w!, undefined, { strides: [3], dilations: [2], pads: [2, 1] }),
  },
  "Conv3d 2x2x2 kernel, padding on one axis": {
    dtype: "float32",
    inputs: { x: { shape: [1, 2, 3, 3, 4] }, w: { shape: [2, 2, 2, 2, 2] } },
    build: (t) => op.conv(t.x!, t.w!, undefined, { pads: [1, 0, 0, 1, 0, 0] }),
  },
  "Conv2d 3x3 padding 1, bias (stride 1: input gradient as a flipped-kernel Conv)": {
    dtype: "float32",
    inputs: { x: { shape: [2, 3, 4, 5] }, w: { shape: [4, 3, 3, 3] }, b: { shape: [4] } },
    build: (t) => op.conv(t.x!, t.w!, t.b, { pads: [1, 1, 1, 1] }),
  },
  "Conv2d 1x1 with padding 1 (stride 1, but a flipped-kernel Conv would need a negative pad)": {
    dtype: "float32",
    inputs: { x: { shape: [1, 2, 3, 3] }, w: { shape: [3, 2, 1, 1] } },
    build: (t) => op.conv(t.x!, t.w!, undefined, { pads: [1, 0, 1, 1] }),
  },
  "Conv2d 1x1 (a single kernel offset)": {
    dtype: "float32",
    inputs: { x: { shape: [2, 3, 3, 2] }, w: { shape: [4, 3, 1, 1] } },
    build: (t) => op.conv(t.x!, t.w!),
  },
  "Nearest upsampling x2": { dtype: "float32", inputs: { x: { shape: [1, 2, 3, 3] } }, build: (t) => op.upsampleNearest(t.x!, 2) },
  Reshape: { inputs: { x: { shape: [2, 6] } }, build: (t) => op.reshape(t.x!, [3, -1]) },
  Transpose: { inputs: { x: { shape: [2, 3, 4] } }, build: (t) => op.transpose(t.x!, [2, 0, 1]) },
  Concat: { inputs: { a: { shape: [2, 3] }, b: { shape: [2, 2] } }, build: (t) => op.concat([t.a!, t.b!, t.a!], 1) },
  Slice: { inputs: { x: { shape: [4, 5] } }, build: (t) => op.slice(t.x!, [1, -4], [3, 100], [0, 1]) },
  Split: { inputs: { x: { shape: [5, 2] } }, build: (t) => op.mul(op.split(t.x!, [2, 3], 0)[1]!, 2) },
  "Gather axis 1 with repeated indices": {
    inputs: { x: { shape: [2, 4, 3] }, i: { shape: [2, 3], values: [0, 3, 3, 1, 0, 0], dtype: "int64" } },
    build: (t) => op.gather(t.x!, t.i!, 1),
  },
  Expand: { inputs: { x: { shape: [3, 1] } }, build: (t) => op.expand(t.x!, [2, 3, 4]) },
  "Unsqueeze and Squeeze": { inputs: { x: x23 }, build: (t) => op.squeeze(op.mul(op.unsqueeze(t.x!, [0, 2]), t.x!), [0]) },
  Pad: { inputs: { x: x23 }, build: (t) => op.pad(t.x!, [1, 0, 0, 2]) },
  "ReduceSum keepdims": { inputs: { x: { shape: [2, 3, 4] } }, build: (t) => op.reduceSum(t.x!, [0, 2], true) },
  ReduceMean: { inputs: { x: { shape: [2, 3, 4] } }, build: (t) => op.reduceMean(t.x!, [1], false) },
  ReduceMax: { inputs: { x: { shape: [3, 4] } }, build: (t) => op.reduceMax(t.x!, [1], false) },
  Softmax: { inputs: { x: { shape: [2, 5] } }, build: (t) => op.softmax(t.x!, -1) },
  LayerNorm: { inputs: { x: { shape: [2, 3, 4] }, s: { shape: [4] }, b: { shape: [4] } }, build: (t) => op.layerNorm(t.x!, t.s!, t.b, -1) },
  "LayerNorm over two axes": { inputs: { x: { shape: [2, 3, 4] }, s: { shape: [3, 4] } }, build: (t) => op.layerNorm(t.x!, t.s!, undefined, 1) },
  GroupNorm: {
    dtype: "float32",
    inputs: { x: { shape: [2, 4, 3, 3] }, s: { shape: [4] }, b: { shape: [4] } },
    build: (t) => op.groupNorm(t.x!, t.s!, t.b!, 2),
  },
  "LayerNorm float32 (backward reuses the forward's Mean and InvStdDev)": {
    dtype: "float32",
    inputs: { x: { shape: [2, 3, 4] }, s: { shape: [4] }, b: { shape: [4] } },
    build: (t) => op.layerNorm(t.x!, t.s!, t.b, -1),
  },
  "LayerNorm float32 over two axes": { dtype: "float32", inputs: { x: { shape: [2, 3, 4] }, s: { shape: [3, 4] } }, build: (t) => op.layerNorm(t.x!, t.s!, undefined, 1) },
  "LayerNorm with a constant scale of ones (adaLN's plain norm)": {
    inputs: { x: { shape: [2, 3, 4] } },
    build: (t) => op.layerNorm(t.x!, t.x!.graph.constant(new Float64Array(4).fill(1), "float64", [4], "ones"), undefined, -1),
  },
  "LayerNorm with per-sample scale and bias (adaLN's modulation)": {
    inputs: { x: { shape: [2, 3, 4] }, s: { shape: [2, 1, 4] }, b: { shape: [2, 1, 4] } },
    build: (t) => op.layerNorm(t.x!, t.s!, t.b!, -1),
  },
  "GroupNorm with a constant scale of ones": {
    dtype: "float32",
    inputs: { x: { shape: [2, 4, 3, 3] }, b: { shape: [4] } },
    build: (t) => op.groupNorm(t.x!, t.x!.graph.constant(new Float32Array(4).fill(1), "float32", [4], "ones"), t.b!, 2),
  },
  "Attention (FusedMatMul + Softmax + MatMul, float32)": {
    dtype: "float32",
    inputs: { q: { shape: [1, 2, 3, 4] }, k: { shape: [1, 2, 3, 4] }, v: { shape: [1, 2, 3, 4] } },
    build: (t) => op.attention(t.q!, t.k!, t.v!),
  },
  "Attention (MatMul + Softmax, float64)": {
    inputs: { q: { shape: [1, 2, 3, 4] }, k: { shape: [1, 2, 3, 4] }, v: { shape: [1, 2, 3, 4] } },
    build: (t) => op.attention(t.q!, t.k!, t.v!),
  },
  "FusedMatMul with alpha, batch broadcast": {
    dtype: "float32",
    inputs: { a: { shape: [2, 2, 3, 4] }, b: { shape: [2, 4, 5] } },
    build: (t) => op.fusedMatMul(t.a!, t.b!, { alpha: 0.5 }),
  },
  "FusedMatMul transA": {
    dtype: "float32",
    inputs: { a: { shape: [2, 4, 3] }, b: { shape: [2, 4, 5] } },
    build: (t) => op.fusedMatMul(t.a!, t.b!, { transA: true, alpha: -1.5 }),
  },
  "FusedMatMul transB, 2-D B broadcast over the batch": {
    dtype: "float32",
    inputs: { a: { shape: [2, 3, 4] }, b: { shape: [5, 4] } },
    build: (t) => op.fusedMatMul(t.a!, t.b!, { transB: true }),
  },
  "FusedMatMul transA and transB": {
    dtype: "float32",
    inputs: { a: { shape: [2, 4, 3] }, b: { shape: [2, 5, 4] } },
    build: (t) => op.fusedMatMul(t.a!, t.b!, { transA: true, transB: true, alpha: 0.25 }),
  },
  "Batched MatMul in float32 (its backward is FusedMatMul)": {
    dtype: "float32",
    inputs: { a: { shape: [2, 3, 4] }, b: { shape: [2, 4, 5] } },
    build: (t) => op.matmul(t.a!, t.b!),
  },
};

describe("every backward rule matches finite differences", () => {
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const report = await gradCheck(c);
      expect(report.checked).toBeGreaterThan(0);
    });
  }
});

describe("backward graphs hold only what the gradients need", () => {
  const backwardOps = (build: (g: Graph) => { loss: Tensor; wrt: Tensor[] }): string[] => {
    const g = new Graph("structure");
    const { loss, wrt } = build(g);
    const before = g.nodes.length;
    gradients(loss, wrt);
    return g.nodes.slice(before).map((n) => n.op);
  };

  it("builds no gradient for a target that is not differentiated, and one product for a square", () => {
    const ops = backwardOps((g) => {
      const x = g.input("x", "float32", [2, 3]);
      const d = op.sub(x, g.input("target", "float32", [2, 3]));
      return { loss: op.sumAll(op.mul(d, d)), wrt: [x] };
    });
    expect(ops).not.toContain("Neg");
    expect(ops.filter((o) => o === "Mul")).toHaveLength(2);
  });

  it("reads a 2-D weight transposed inside Gemm instead of building a Transpose", () => {
    const ops = backwardOps((g) => {
      const x = g.input("x", "float32", [2, 3, 4]);
      const w = g.input("w", "float32", [4, 5]);
      return { loss: op.sumAll(op.matmul(x, w)), wrt: [x, w] };
    });
    expect(ops).not.toContain("Transpose");
    expect(ops.filter((o) => o === "Gemm")).toHaveLength(2);
  });

  it("differentiates q k^T through k itself, not through a transpose of k^T (float64, explicit transposes)", () => {
    const g = new Graph("attention");
    const [q, k, v] = ["q", "k", "v"].map((name) => g.input(name, "float64", [1, 2, 3, 4]));
    const loss = op.sumAll(op.attention(q!, k!, v!));
    const before = g.nodes.length;
    gradients(loss, [q!, k!, v!]);
    const transposeOf = new Map(g.nodes.filter((n) => n.op === "Transpose").map((n) => [n.outputs[0]!, n.inputs[0]!]));
    const doubled = g.nodes.slice(before).filter((n) => n.op === "Transpose" && transposeOf.has(n.inputs[0]!) && n.outputs[0]!.shape.join() === transposeOf.get(n.inputs[0]!)!.shape.join());
    expect(doubled.map((n) => n.name)).toEqual([]);
  });

  it("builds no Transpose and no scaling Mul for float32 attention, forward or backward", () => {
    const ops = backwardOps((g) => {
      const [q, k, v] = ["q", "k", "v"].map((name) => g.input(name, "float32", [1, 2, 3, 4]));
      return { loss: op.sumAll(op.attention(q!, k!, v!)), wrt: [q!, k!, v!] };
    });
    expect(ops).not.toContain("Transpose");
    const g = new Graph("forward");
    const [q, k, v] = ["q", "k", "v"].map((name) => g.input(name, "float32", [1, 2, 3, 4]));
    op.attention(q!, k!, v!);
    expect(g.nodes.map((n) => n.op)).toEqual(["FusedMatMul", "Softmax", "MatMul"]);
  });

  it("reuses a float32 LayerNorm's saved statistics instead of recomputing them", () => {
    const ops = backwardOps((g) => {
      const x = g.input("x", "float32", [2, 3, 4]);
      return { loss: op.sumAll(op.mul(op.layerNorm(x, g.input("s", "float32", [4]), undefined), g.input("r", "float32", [2, 3, 4]))), wrt: [x] };
    });
    expect(ops).not.toContain("Sqrt");
    expect(ops.filter((o) => o === "ReduceMean")).toHaveLength(2);
  });
});
