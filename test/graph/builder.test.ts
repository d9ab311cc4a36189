import { describe, expect, it } from "vitest";
import { gradients } from "../../src/autodiff/gradients.ts";
import { Graph } from "../../src/graph/graph.ts";
import { importGraph, readSignature } from "../../src/graph/import.ts";
import * as op from "../../src/graph/ops.ts";
import { encodeModel } from "../../src/graph/onnx-proto.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";

describe("shape errors at build time name the op, node and shapes", () => {
  it("broadcasting mismatch", () => {
    const g = new Graph();
    const a = g.input("a", "float32", [2, 3]);
    const b = g.input("b", "float32", [4]);
    expect(() => op.add(a, b)).toThrow("Add node 'add': shapes cannot be broadcast together at dimension 1 (3 vs 4) (input shapes [2,3], [4])");
  });
  it("MatMul inner dimensions", () => {
    const g = new Graph();
    expect(() => op.matmul(g.input("a", "float32", [2, 3]), g.input("b", "float32", [4, 5]))).toThrow(/MatMul node 'matmul': inner dimensions differ: 3 vs 4/);
  });
  it("Conv channels and kernel size", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [1, 3, 4, 4]);
    expect(() => op.conv(x, g.input("w", "float32", [8, 2, 3, 3]))).toThrow(/input channels 3 != weight channels 2 x group 1/);
    expect(() => op.conv(x, g.input("w2", "float32", [8, 3, 5, 5]))).toThrow(/kernel 5 \(dilation 1\) is larger than padded input 4/);
  });
  it("Reshape element count", () => {
    const g = new Graph();
    expect(() => op.reshape(g.input("x", "float32", [2, 3]), [4, 2])).toThrow(/cannot reshape 6 elements to \[4,2\]/);
  });
  it("unknown attribute", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    expect(() => g.op("Relu", [x], { alpha: 1 })).toThrow(/unknown attribute 'alpha'/);
  });
});

describe("unknown ops and missing gradient rules", () => {
  it("an op without a definition is an error naming it", () => {
    const g = new Graph();
    expect(() => g.op("FancyOp", [g.input("x", "float32", [1])])).toThrow(/op 'FancyOp' \(node 'fancyop'\) is not supported by the graph builder/);
  });
  it("an op without a backward rule on the differentiated path is an error naming it", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2, 2]);
    const y = g.op("ConvTranspose", [op.reshape(x, [1, 1, 2, 2]), g.input("w", "float32", [1, 1, 2, 2])])[0]!;
    expect(() => gradients(op.sumAll(y), [x])).toThrow(/no gradient rule for op 'ConvTranspose' \(node 'convtranspose'\)/);
  });
  it("ops off the differentiated path need no rule", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    const frozen = g.op("ConvTranspose", [g.input("a", "float32", [1, 1, 2]), g.input("w", "float32", [1, 1, 1])])[0]!;
    const [dx] = gradients(op.sumAll(op.mul(x, op.reshape(frozen, [2]))), [x]);
    expect(dx!.shape).toEqual([2]);
  });
});

describe("ONNX serialisation and import", () => {
  const build = () => {
    const g = new Graph("roundtrip");
    const x = g.input("x", "float32", [2, 3]);
    const w = g.constant(Float32Array.from([1, 2, 3, 4, 5, 6]), "float32", [3, 2], "w");
    g.output(op.softmax(op.add(op.matmul(x, w), 0.5), -1), "y");
    return g;
  };
  const feeds = { x: f32([2, 3], [0.1, -0.2, 0.3, 1, 0, -1]) };

  it("reads the signature of a serialised model", () => {
    const sig = readSignature(toOnnx(build(), { purpose: "test" }), "mem");
    expect(sig.inputs).toEqual([{ name: "x", dtype: "float32", shape: [2, 3] }]);
    expect(sig.outputs).toEqual([{ name: "y", dtype: "float32", shape: [2, 2] }]);
    expect(sig.opset).toBe(21);
    expect(sig.metadata).toEqual({ purpose: "test" });
  });

  it("an imported model computes what the original computes, and can be differentiated", async () => {
    const bytes = toOnnx(build());
    const imported = importGraph(bytes, "mem");
    const y = imported.outputs.y!;
    const [dx] = gradients(op.sumAll(op.square(y)), [imported.inputs.x!]);
    imported.graph.output(dx!, "dx");
    const original = await LocalSession.create("original", bytes);
    const rebuilt = await LocalSession.create("rebuilt", toOnnx(imported.graph));
    const a = await original.run(feeds);
    const b = await rebuilt.run(feeds);
    expect(Array.from(b.y!.data as Float32Array)).toEqual(Array.from(a.y!.data as Float32Array));
    expect(b.dx!.shape).toEqual([2, 3]);
  });

  it("symbolic dimensions (as exporters write a batch axis) must be given sizes", () => {
    const dims = (batch: { dimValue?: number; dimParam?: string }) => ({ tensorType: { elemType: 1, shape: { dim: [batch, { dimValue: 3 }] } } });
    const bytes = encodeModel({
      irVersion: 10,
      opsetImport: [{ domain: "", version: 21 }],
      graph: {
        name: "dynamic",
        input: [{ name: "x", type: dims({ dimParam: "batch" }) }],
        output: [{ name: "y", type: dims({ dimParam: "batch" }) }],
        node: [{ opType: "Relu", name: "relu", input: ["x"], output: ["y"] }],
      },
    });
    expect(readSignature(bytes, "dyn.onnx").inputs[0]!.shape).toEqual(["batch", 3]);
    expect(() => importGraph(bytes, "dyn.onnx")).toThrow(/input 'x' has symbolic dimension 'batch'; give its size/);
    expect(importGraph(bytes, "dyn.onnx", { batch: 4 }).outputs.y!.shape).toEqual([4, 3]);
  });

  it("corrupt bytes are an error naming the file", () => {
    expect(() => readSignature(Uint8Array.from([0x0a, 0xff, 0xff, 0xff]), "models/broken.onnx")).toThrow(/cannot import ONNX model 'models\/broken.onnx': not a valid ONNX protobuf/);
  });

  it("unsupported ops in an imported file are named", () => {
    const g = build();
    const bytes = toOnnx(g);
    const patched = Buffer.from(bytes).toString("latin1").replace("Softmax", "Hardmax");
    expect(() => importGraph(Buffer.from(patched, "latin1"), "m.onnx")).toThrow(/op 'Hardmax'/);
  });
});
