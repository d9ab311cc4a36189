import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { adam, adamW } from "../../src/optim/adam.ts";
import { assembleUpdateKernel } from "./assemble-kernel.ts";
import { AdamKernel, type AdamConstants } from "../../src/optim/kernels/adam-kernel.ts";
import { paramTensor } from "../../src/optim/param-set.ts";
import { makeRng } from "../../src/util/prng.ts";

/**
 * The scalar loop the SIMD kernel replaced, kept verbatim as the reference: every result below must equal it
 * bit for bit (float64 per element, rounded to float32 on every store).
 */
const scalarAdam = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, c: AdamConstants): void => {
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! * c.shrink;
    const gi = g[i]! + c.l2 * p[i]!;
    const mi = c.b1 * m[i]! + (1 - c.b1) * gi;
    const vi = c.b2 * v[i]! + (1 - c.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (c.stepSize * mi) / (Math.sqrt(vi) * c.invSqrtBias2 + c.eps);
  }
};

const constantsAt = (step: number, lr: number, mode: "decoupled" | "l2", wd: number): AdamConstants => ({
  shrink: mode === "decoupled" ? 1 - lr * wd : 1,
  l2: mode === "l2" ? wd : 0,
  b1: 0.9,
  b2: 0.999,
  stepSize: lr / (1 - 0.9 ** step),
  invSqrtBias2: 1 / Math.sqrt(1 - 0.999 ** step),
  eps: 1e-8,
});

const rng = makeRng(7);
const normal = (n: number, scale: number): Float32Array => rng.fillNormal(new Float32Array(n)).map((x) => scale * x);
/** Odd, tiny, empty and larger-than-one-chunk (8192) tensors: every path through the chunking. */
const SIZES = [1, 0, 5, 128, 8192 * 2 + 3];

const sameBits = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe("Adam SIMD kernel", () => {
  it("is assembled from update.wat (run npx node test/optim/assemble-kernel.ts after editing it)", async () => {
    expect(readFileSync(new URL("../../src/optim/kernels/update-wasm.ts", import.meta.url), "utf8")).toBe(await assembleUpdateKernel());
  });

  for (const [mode, make] of [["decoupled", adamW], ["l2", adam]] as const) {
    it(`${mode === "l2" ? "Adam" : "AdamW"} is bit-identical to the scalar loop over 6 steps with a changing learning rate`, () => {
      const start = SIZES.map((n) => normal(n, 0.5));
      const params = start.map((data, i) => paramTensor(`w${i}`, [data.length], data.slice()));
      const optimizer = make(params, { lr: 1e-3, weightDecay: 0.05 });
      const reference = start.map((data) => ({ p: data.slice(), m: new Float32Array(data.length), v: new Float32Array(data.length) }));
      for (let step = 1; step <= 6; step++) {
        const lr = 1e-3 * step;
        optimizer.learningRate = lr;
        // Gradients spanning many magnitudes, with exact zeros and negative zeros among them.
        const grads = SIZES.map((n) => normal(n, 10 ** (step - 4)).map((x, i) => (i % 17 === 0 ? 0 : i % 19 === 0 ? -0 : x)));
        optimizer.step(grads.map((g, i) => paramTensor(`w${i}`, [g.length], g)));
        reference.forEach((r, i) => scalarAdam(r.p, grads[i]!, r.m, r.v, constantsAt(step, lr, mode, 0.05)));
      }
      params.forEach((p, i) => expect(sameBits(p.data, reference[i]!.p)).toBe(true));
      const state = optimizer.exportState();
      reference.forEach((r, i) => {
        expect(sameBits(state.slots.find((s) => s.name === `m/w${i}`)!.data, r.m)).toBe(true);
        expect(sameBits(state.slots.find((s) => s.name === `v/w${i}`)!.data, r.v)).toBe(true);
      });
    });
  }

  // Tensors of three or more 8192-element chunks are shared with the helper thread; "helper-only" makes it run
  // every staged chunk (the adaptive split depends on scheduling, so it alone would not prove the helper's path).
  for (const sharing of ["helper-only", "adaptive"] as const) {
    it(`with a helper thread (${sharing}) is bit-identical to the scalar loop, edge-case values included`, () => {
      const sizes = [8192 * 5 + 3, 8192 * 3, 30001, 100];
      // Subnormals, zeros of both signs, values near float32's largest (whose squares overflow v to Infinity),
      // and ordinary ones.
      const special = [0, -0, 1e-45, -1e-40, 1.1754942e-38, 3e38, -3.4e38, 1e-30, 65504, -1];
      const withEdges = (data: Float32Array) => data.map((x, i) => (i % 7 === 0 ? special[(i / 7) % special.length]! : x));
      const kernel = new AdamKernel(sizes, undefined, sharing);
      const reference = sizes.map((n) => ({ p: withEdges(normal(n, 1)), m: new Float32Array(n), v: new Float32Array(n) }));
      const ps = reference.map((r) => r.p.slice());
      for (let step = 1; step <= 4; step++) {
        const c = constantsAt(step, 1e-3 * step, step % 2 === 0 ? "decoupled" : "l2", 0.05);
        const gs = sizes.map((n) => withEdges(normal(n, 10 ** (step - 3))));
        kernel.update(ps, gs, c);
        reference.forEach((r, k) => scalarAdam(r.p, gs[k]!, r.m, r.v, c));
      }
      reference.forEach((r, k) => {
        expect(sameBits(ps[k]!, r.p)).toBe(true);
        expect(sameBits(kernel.read("m", k), r.m)).toBe(true);
        expect(sameBits(kernel.read("v", k), r.v)).toBe(true);
      });
      expect(reference[0]!.v.some((x) => x === Infinity)).toBe(true);
    });
  }

  it("splits tensors over arenas and pieces without changing a bit, and reads and writes the moments across them", () => {
    // 352 KiB arenas: 32 KiB of moments beside the 320 KiB of scratch and staging, so 1024-element pieces, one arena each.
    const sizes = [3000, 7, 2048, 5000];
    const kernel = new AdamKernel(sizes, 352 * 1024);
    const whole = new AdamKernel(sizes);
    const m0 = sizes.map((n) => normal(n, 0.01));
    const v0 = sizes.map((n) => normal(n, 0.01).map(Math.abs));
    m0.forEach((m, k) => [kernel, whole].forEach((store) => store.write("m", k, m)));
    v0.forEach((v, k) => [kernel, whole].forEach((store) => store.write("v", k, v)));
    const ps = sizes.map((n) => normal(n, 1));
    const split = ps.map((p) => p.slice());
    const gs = sizes.map((n) => normal(n, 0.1));
    const c = constantsAt(3, 0.01, "decoupled", 0.01);
    kernel.update(split, gs, c);
    whole.update(ps, gs, c);
    sizes.forEach((_, k) => {
      expect(sameBits(split[k]!, ps[k]!)).toBe(true);
      expect(sameBits(kernel.read("m", k), whole.read("m", k))).toBe(true);
      expect(sameBits(kernel.read("v", k), whole.read("v", k))).toBe(true);
    });
    expect(() => kernel.read("momentum", 0)).toThrow('Adam has moments "m" and "v", not "momentum"');
  });
});
