/** fp16/bf16 weights (widened to fp32) and the errors an unsupported file gets. */
import { describe, expect, it } from "vitest";
import { importGraph } from "../../src/graph/import.ts";
import { encodeModel } from "../../src/graph/onnx-proto.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";

const FLOAT16 = 10;
const BFLOAT16 = 16;
/** 1, -2, 0.5, 65504 (fp16 max) as IEEE half bit patterns; bf16 as the top halves of float32. */
const halfBits = Uint16Array.of(0x3c00, 0xc000, 0x3800, 0x7bff);
const bf16Bits = Uint16Array.from([1, -2, 0.5, 3.140625], (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);

const modelWith = (dataType: number, bits: Uint16Array, node: { opType: string; attribute?: { name: string; type: number; i?: number }[] } = { opType: "Mul" }) =>
  encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "half",
      input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "n" }, { dimValue: 4 }] } } } }],
      output: [{ name: "y", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "n" }, { dimValue: 4 }] } } } }],
      initializer: [{ name: "w", dims: [4], dataType, rawData: new Uint8Array(bits.buffer) }],
      node: [
        { opType: "Cast", name: "/to_float", input: ["w"], output: ["wf"], attribute: [{ name: "to", type: 2, i: 1 }] },
        { ...node, name: "/scale/op", input: ["x", "wf"], output: ["y"] },
      ],
    },
  });

const run = async (bytes: Uint8Array, x: number[]) => {
  const imported = importGraph(bytes, "half.onnx", { n: 1 });
  const session = await LocalSession.create("half", toOnnx(imported.graph));
  const out = await session.run({ x: f32([1, 4], x) });
  await session.release();
  return Array.from(out.y!.data as Float32Array);
};

describe("reduced-precision weights", () => {
  it("fp16 initialisers are widened to fp32 exactly", async () => {
    expect(await run(modelWith(FLOAT16, halfBits), [1, 1, 1, 1])).toEqual([1, -2, 0.5, 65504]);
  });
  it("bf16 initialisers are widened to fp32 exactly", async () => {
    expect(await run(modelWith(BFLOAT16, bf16Bits), [2, 2, 2, 2])).toEqual([2, -4, 1, 6.28125]);
  });
  it("an op without a definition is an error naming the op, the node and the file", () => {
    expect(() => importGraph(modelWith(FLOAT16, halfBits, { opType: "BitShift" }), "half.onnx", { n: 1 }))
      .toThrow(/cannot import ONNX model 'half\.onnx': op 'BitShift' \(node '\/scale\/op'\) is not supported/);
  });
});

describe("older opsets", () => {
  it("opset 11 attribute forms (Unsqueeze/ReduceSum axes, Split without sizes) import as their opset 21 input forms", async () => {
    const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const bytes = encodeModel({
      irVersion: 6,
      opsetImport: [{ domain: "", version: 11 }],
      graph: {
        name: "old",
        input: [info("x", [2, 4])],
        output: [info("y", [1, 2, 1])],
        node: [
          { opType: "Split", name: "split", input: ["x"], output: ["a", "b"], attribute: [{ name: "axis", type: 2, i: 1 }] },
          { opType: "Sub", name: "sub", input: ["a", "b"], output: ["d"] },
          { opType: "ReduceSum", name: "sum", input: ["d"], output: ["s"], attribute: [{ name: "axes", type: 7, ints: [1] }, { name: "keepdims", type: 2, i: 1 }] },
          { opType: "Unsqueeze", name: "unsq", input: ["s"], output: ["y"], attribute: [{ name: "axes", type: 7, ints: [0] }] },
        ],
      },
    });
    const imported = importGraph(bytes, "old.onnx");
    const session = await LocalSession.create("old", toOnnx(imported.graph));
    const out = await session.run({ x: f32([2, 4], [1, 2, 10, 20, 3, 4, 30, 40]) });
    await session.release();
    expect(out.y!.shape).toEqual([1, 2, 1]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual([-27, -63]);
  });
});

describe("folding big constants", () => {
  it("a crop of a big constant table (SD3's position embedding) folds to the crop alone, computing what the file computes", async () => {
    const table = Float32Array.from({ length: 400 * 300 }, (_, i) => Math.sin(i));
    const ints = (name: string, values: number[]) => ({ name, dims: [values.length], dataType: 7, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const bytes = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "crop",
        input: [info("x", [1, 16, 300])],
        output: [info("y", [1, 16, 300])],
        initializer: [
          { name: "pos_embed", dims: [1, 400, 300], dataType: 1, rawData: new Uint8Array(table.buffer) },
          ints("grid", [1, 20, 20, 300]), ints("starts", [5, 5]), ints("ends", [9, 9]), ints("axes", [1, 2]), ints("flat", [1, -1, 300]),
        ],
        node: [
          { opType: "Reshape", name: "/pos_embed/Reshape", input: ["pos_embed", "grid"], output: ["g"] },
          { opType: "Slice", name: "/pos_embed/Slice", input: ["g", "starts", "ends", "axes"], output: ["crop"] },
          { opType: "Reshape", name: "/pos_embed/Reshape_1", input: ["crop", "flat"], output: ["c"] },
          { opType: "Add", name: "/Add", input: ["x", "c"], output: ["y"] },
        ],
      },
    });
    const imported = importGraph(bytes, "crop.onnx");
    expect(imported.graph.nodes.map((n) => n.op)).toEqual(["Add", "Identity"]);
    expect(imported.graph.initializers.map((t) => t.shape)).toEqual([[1, 16, 300]]);
    const x = f32([1, 16, 300], Float32Array.from({ length: 4800 }, (_, i) => i / 100));
    const original = await LocalSession.create("crop-original", bytes);
    const rebuilt = await LocalSession.create("crop-imported", toOnnx(imported.graph));
    const [a, b] = [await original.run({ x }), await rebuilt.run({ x })];
    await Promise.all([original.release(), rebuilt.release()]);
    expect(Array.from(b.y!.data as Float32Array)).toEqual(Array.from(a.y!.data as Float32Array));
  });
});
