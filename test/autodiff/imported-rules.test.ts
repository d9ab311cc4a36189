/** Finite-difference checks of the backward rules for ops that arrive through imported ONNX files. */
import { describe, expect, it } from "vitest";
import { gradCheck } from "./gradcheck.ts";
import { add, div, mul, pow, reduceMean, slice, sqrt } from "../../src/graph/ops.ts";
import type { Tensor } from "../../src/graph/graph.ts";

const einsum = (equation: string, ...xs: Tensor[]): Tensor => xs[0]!.graph.op("Einsum", xs, { equation })[0]!;

describe("backward rules of imported ops (finite differences)", () => {
  it("Einsum as a permutation (SD3's unpatchify nhwpqc->nchpwq)", async () => {
    const r = await gradCheck({ inputs: { x: { shape: [1, 2, 2, 2, 1, 3] } }, build: ({ x }) => einsum("nhwpqc->nchpwq", x!) });
    expect(r.checked).toBe(24);
  });

  it("Einsum as a batched contraction, and with a letter summed inside one operand only", async () => {
    await gradCheck({ inputs: { a: { shape: [2, 3, 4] }, b: { shape: [2, 5, 4] } }, build: ({ a, b }) => einsum("bqd,bkd->bqk", a!, b!) });
    await gradCheck({ inputs: { a: { shape: [3, 4] }, b: { shape: [4] } }, build: ({ a, b }) => einsum("ij,j->i", a!, b!) });
    await gradCheck({ inputs: { a: { shape: [3, 4] } }, build: ({ a }) => einsum("ij->i", a!) });
  });

  it("InstanceNormalization (GroupNorm as torch exports it) w.r.t. input, scale and bias", async () => {
    await gradCheck({
      dtype: "float32",
      inputs: { x: { shape: [2, 3, 2, 3] }, scale: { shape: [3] }, bias: { shape: [3] } },
      build: ({ x, scale, bias }) => x!.graph.op("InstanceNormalization", [x, scale, bias], { epsilon: 1e-5 })[0]!,
    });
  });

  it("Slice with steps (RoPE's x[..., ::2] and x[..., 1::2]) and with a step past the end", async () => {
    await gradCheck({ inputs: { x: { shape: [2, 3, 6] } }, build: ({ x }) => slice(x!, [0], [100], [-1], [2]) });
    await gradCheck({ inputs: { x: { shape: [2, 6] } }, build: ({ x }) => slice(x!, [1], [100], [-1], [2]) });
    await gradCheck({ inputs: { x: { shape: [2, 3, 7] } }, build: ({ x }) => slice(x!, [1, 0], [100, 2], [-1, 1], [3, 1]) });
  });

  it("RMS norm as torch writes it: Pow, ReduceMean, Add, Sqrt, Div, Mul", async () => {
    await gradCheck({
      inputs: { x: { shape: [2, 3, 4] }, w: { shape: [4] } },
      build: ({ x, w }) => mul(div(x!, sqrt(add(reduceMean(pow(x!, 2), [-1], true), 1e-6))), w!),
    });
  });
});
