/** Small ONNX models for the runtime tests, built with the project's graph builder. */
import { Graph } from "../../src/graph/graph.ts";
import { add, log, matmul, tanh } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { f32, type Feeds } from "../../src/runtime/tensors.ts";
import { makeRng } from "../../src/util/prng.ts";

/** y = x W^depth with W = 1/n everywhere: values stay finite, and the work (depth n^3 MACs) cannot be folded away. */
export const matmulChain = (n: number, depth: number): Uint8Array => {
  const g = new Graph("matmul-chain");
  const w = g.constant(new Float32Array(n * n).fill(1 / n), "float32", [n, n], "w");
  let y = g.input("x", "float32", [n, n]);
  for (let i = 0; i < depth; i++) y = matmul(y, w);
  g.output(y, "y");
  return toOnnx(g);
};

/** y = log(x): a negative input yields NaN at its position. */
export const logModel = (size: number): Uint8Array => {
  const g = new Graph("log");
  g.output(log(g.input("x", "float32", [size])), "y");
  return toOnnx(g);
};

/** Two inputs and two outputs: h = tanh(x W + b), s = h + x. */
export const denseModel = (seed: number): { bytes: Uint8Array; feeds: Feeds } => {
  const rng = makeRng(seed);
  const normals = (count: number) => Array.from({ length: count }, () => rng.normal());
  const g = new Graph("dense");
  const x = g.input("x", "float32", [3, 8]);
  const b = g.input("b", "float32", [8]);
  const h = tanh(add(matmul(x, g.constant(Float32Array.from(normals(64)), "float32", [8, 8], "w")), b));
  g.output(h, "h");
  g.output(add(h, x), "s");
  return { bytes: toOnnx(g), feeds: { x: f32([3, 8], normals(24)), b: f32([8], normals(8)) } };
};
