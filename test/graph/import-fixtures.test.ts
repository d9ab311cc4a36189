import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { importInto, loadOnnx } from "../../src/graph/import.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { fixturePath, maxAbsDiff, recorded, recordedInputs } from "./onnx-fixtures.ts";

/** Imports a fixture with its sizes fixed by the recorded inputs, runs it through ORT, returns every output. */
const runImported = async (file: string, model: string) => {
  const r = recorded(model);
  const feeds = recordedInputs(r);
  const graph = new Graph(model);
  const onnx = loadOnnx(fixturePath(file));
  const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
  const imported = importInto(graph, onnx, { bind });
  for (const [name, t] of Object.entries(imported.outputs)) graph.output(t, name);
  const session = await LocalSession.create(model, toOnnx(graph));
  const out = await session.run(feeds);
  await session.release();
  return { r, out, graph };
};

describe("importing torch.onnx.export fixtures of real architectures", () => {
  const cases = [
    { file: "sd3_transformer.onnx", model: "sd3_transformer", outputs: ["out_hidden_states"] },
    { file: "sd3_transformer_opset14.onnx", model: "sd3_transformer", outputs: ["out_hidden_states"] },
    { file: "vae_decoder.onnx", model: "vae_decoder", outputs: ["sample"] },
    { file: "dinov2.onnx", model: "dinov2", outputs: ["last_hidden_state", "pooler_output"] },
  ];
  for (const c of cases) {
    it(`${c.file} reproduces PyTorch's outputs with every shape subgraph folded`, async () => {
      const { r, out, graph } = await runImported(c.file, c.model);
      for (const name of c.outputs) {
        const expected = r.tensors.get(`output.${name}`)!;
        expect(out[name]!.shape).toEqual(expected.shape);
        const error = maxAbsDiff(out[name]!.data as Float32Array, expected.data);
        console.log(`[import] ${c.file} ${name}: max abs error vs PyTorch ${error.toExponential(2)}`);
        expect(error).toBeLessThan(1e-4);
      }
      const left = graph.nodes.filter((n) => ["Shape", "Gather", "ConstantOfShape", "Range", "Equal"].includes(n.op) && n.inputs.every((t) => t?.constValue));
      expect(left).toEqual([]);
    });
  }

  it("the external-data copy of the transformer (3 files, offsets) computes bit-identically", async () => {
    const embedded = await runImported("sd3_transformer.onnx", "sd3_transformer");
    const external = await runImported("sd3_transformer_external.onnx", "sd3_transformer");
    expect(Array.from(external.out.out_hidden_states!.data as Float32Array)).toEqual(Array.from(embedded.out.out_hidden_states!.data as Float32Array));
  });

  it("a bound tensor that does not fit the model's declared input is an error naming the file, the input and both shapes", () => {
    const graph = new Graph("bad");
    const model = loadOnnx(fixturePath("sd3_transformer.onnx"));
    const bind = {
      hidden_states: graph.input("hidden_states", "float32", [2, 16, 8, 8]),
      encoder_hidden_states: graph.input("encoder_hidden_states", "float32", [2, 5, 30]),
    };
    expect(() => importInto(graph, model, { bind })).toThrow(
      /cannot import ONNX model '.*sd3_transformer\.onnx': input 'encoder_hidden_states' dimension 2 \('24'\) is 24; the bound tensor has shape \[2,5,30\]/,
    );
    const wrongBatch = { ...bind, encoder_hidden_states: graph.input("e2", "float32", [3, 5, 24]) };
    expect(() => importInto(graph, model, { bind: wrongBatch })).toThrow(/input 'encoder_hidden_states' dimension 0 \('batch_size'\) is 2; the bound tensor has shape \[3,5,24\]/);
  });
});
