/**
 * Gradients through the imported SD3 transformer: d loss / d weight against PyTorch's autograd, and
 * LoRA adapters (equal to the base at init, gradients against PyTorch and against finite differences).
 */
import { describe, expect, it } from "vitest";
import { gradients } from "../../src/autodiff/gradients.ts";
import { Graph, type Tensor } from "../../src/graph/graph.ts";
import { importInto, loadOnnx, type OnnxModel } from "../../src/graph/import.ts";
import { mul, sumAll } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { initParams, isAdapterParam, ParamScope } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { compileForward, compileTrainStep, paramFeeds, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { fixturePath, maxAbsDiff, recorded, recordedInputs } from "./onnx-fixtures.ts";

const r = recorded("sd3_transformer");
const feeds = recordedInputs(r);
const transformer: OnnxModel = loadOnnx(fixturePath("sd3_transformer.onnx"));
/** The same weights exported at opset 14, where LayerNorm arrives as ReduceMean/Sub/Pow/Sqrt/Div. */
const transformer14: OnnxModel = loadOnnx(fixturePath("sd3_transformer_opset14.onnx"));
const cotangent = r.tensors.get("cotangent")!;

/** The initialiser a torch parameter became: its own name, or the weight input of the MatMul in its module's scope. */
const initialiserOf = (param: string, transformer: OnnxModel): { name: string; transposed: boolean } => {
  if (transformer.initializers.has(param)) return { name: param, transposed: false };
  const scope = `/${param.replace(/\.weight$/, "").replace(/\./g, "/").replace(/\/(\d+)(?=\/|$)/g, ".$1")}/MatMul`;
  const node = transformer.nodes.find((n) => n.name === scope) ?? (() => {
    throw new Error(`no node ${scope}`);
  })();
  return { name: node.input![1]!, transposed: true };
};

const transpose2d = (data: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j]!;
  return out;
};

const build = (scope: ParamScope, graph: Graph, model: OnnxModel = transformer) => {
  const bind = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, graph.input(name, "float32", t.shape)]));
  const { outputs, adapters } = importInto(graph, model, { bind, scope });
  const out = outputs.out_hidden_states!;
  const c = graph.constant(Float32Array.from(cotangent.data), "float32", cotangent.shape, "cotangent");
  return { loss: sumAll(mul(out, c)), out, adapters };
};

describe("gradients through the imported SD3 transformer", () => {
  for (const [opset, model] of [["17", transformer], ["14", transformer14]] as const) {
    it(`d loss / d frozen weights match PyTorch's autograd (opset ${opset} export)`, async () => {
      const graph = new Graph("grads");
      const scope = new ParamScope(graph);
      const { loss } = build(scope, graph, model);
      graph.output(loss, "loss");
      const params = [...r.tensors.keys()].filter((k) => k.startsWith("grad.")).map((k) => k.slice("grad.".length));
      const consts = new Map(graph.initializers.map((t) => [t.name, t] as const));
      const wrt: Tensor[] = params.map((p) => consts.get(initialiserOf(p, model).name)!);
      gradients(loss, wrt).forEach((g, i) => graph.output(g, `grad_${i}`));
      const session = await LocalSession.create("grads", toOnnx(graph));
      const out = await session.run(feeds);
      await session.release();
      expect(Math.abs(Number(out.loss!.data[0]) - r.tensors.get("loss")!.data[0]!)).toBeLessThan(1e-3);
      params.forEach((p, i) => {
        const torchGrad = r.tensors.get(`grad.${p}`)!;
        const { transposed } = initialiserOf(p, model);
        const expected = transposed ? transpose2d(torchGrad.data, torchGrad.shape[0]!, torchGrad.shape[1]!) : torchGrad.data;
        const error = maxAbsDiff(out[`grad_${i}`]!.data as Float32Array, expected);
        const scale = Math.max(...Array.from(expected, Math.abs));
        console.log(`[import-grad] opset ${opset} ${p}: max abs error ${error.toExponential(2)} (max |grad| ${scale.toFixed(3)})`);
        expect(error).toBeLessThan(1e-4 * Math.max(1, scale));
      });
    });
  }

  const lora = { rank: 2, alpha: 4, targets: ["transformer_blocks.*.attn.to_q", "attn.add_k_proj", "transformer_blocks.0.attn2.to_v", "norm1.linear", "ff.net.2"] };

  it("LoRA attaches by weight name and by node scope; at init (B = 0) the output is the base output", async () => {
    const forward = compileForward("lora-forward", (scope, graph) => {
      const { out, adapters } = build(scope, graph);
      expect(adapters.map((a) => a.module).sort()).toEqual([
        "transformer_blocks.0.attn.add_k_proj", "transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn2.to_v", "transformer_blocks.0.ff.net.2",
        "transformer_blocks.0.norm1.linear", "transformer_blocks.1.attn.add_k_proj", "transformer_blocks.1.attn.to_q", "transformer_blocks.1.ff.net.2", "transformer_blocks.1.norm1.linear",
      ]);
      expect(adapters.find((a) => a.module === "transformer_blocks.0.norm1.linear")).toMatchObject({ layout: "out_in", weight: "transformer_blocks.0.norm1.linear.weight" });
      expect(adapters.find((a) => a.module === "transformer_blocks.0.attn.to_q")!.weight).toMatch(/^onnx::MatMul_/);
      return { out };
    }, { lora });
    expect(forward.params.every((p) => isAdapterParam(p.name))).toBe(true);
    const params = initParams(forward.params, 5);
    const session = await LocalSession.create("lora-forward", forward.bytes);
    const out = await session.run({ ...paramFeeds(params), ...feeds });
    await session.release();
    expect(maxAbsDiff(out.out!.data as Float32Array, r.tensors.get("output.out_hidden_states")!.data)).toBeLessThan(1e-4);
  });

  it("LoRA gradients: d/dB at B = 0 equals (alpha/rank) A^T dW from PyTorch, and every factor matches finite differences", async () => {
    const train = compileTrainStep("lora-train", (scope, graph) => ({ loss: build(scope, graph).loss }), isAdapterParam, { lora });
    const forward = compileForward("lora-loss", (scope, graph) => ({ loss: build(scope, graph).loss }), { lora });
    const params = initParams(train.params, 5);
    const trainSession = await LocalSession.create("lora-train", train.bytes);
    const at0 = await runTrainStep(trainSession, train, params, feeds);
    const byName = new Map(params.map((p) => [p.name, p]));
    const gradB = at0.grads.find((g) => g.name === "transformer_blocks.0.attn.to_q.lora_B")!;
    const a = byName.get("transformer_blocks.0.attn.to_q.lora_A")!;
    const dW = transpose2d(r.tensors.get("grad.transformer_blocks.0.attn.to_q.weight")!.data, 32, 32); // [in, out]
    const expected = new Float32Array(2 * 32);
    for (let k = 0; k < 2; k++) for (let o = 0; o < 32; o++) {
      let s = 0;
      for (let i = 0; i < 32; i++) s += a.data[i * 2 + k]! * dW[i * 32 + o]!;
      expected[k * 32 + o] = (lora.alpha / lora.rank) * s;
    }
    console.log(`[import-grad] lora_B at init vs PyTorch: max abs error ${maxAbsDiff(gradB.data, expected).toExponential(2)}`);
    expect(maxAbsDiff(gradB.data, expected)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(expected, Math.abs)));

    // Away from init, so A's gradient is not trivially zero.
    const rng = makeRng(9);
    for (const p of params) if (p.name.endsWith("lora_B")) for (let i = 0; i < p.data.length; i++) p.data[i] = 0.3 * rng.normal();
    const { grads } = await runTrainStep(trainSession, train, params, feeds);
    const forwardSession = await LocalSession.create("lora-loss", forward.bytes);
    const lossAt = async () => Number((await forwardSession.run({ ...paramFeeds(params), ...feeds }, ["loss"])).loss!.data[0]);
    // fp32 losses carry ~1e-7 relative rounding, so a wide fourth-order stencil (truncation O(h^4)) beats
    // a narrow central difference (truncation O(h^2), rounding ~ 1/h).
    const h = 2e-2;
    let maxError = 0;
    let checked = 0;
    for (const p of params) {
      const g = grads.find((x) => x.name === p.name)!;
      for (let s = 0; s < 3; s++) {
        const i = rng.int(p.data.length);
        const saved = p.data[i]!;
        const at = async (delta: number) => {
          p.data[i] = saved + delta;
          const value = await lossAt();
          p.data[i] = saved;
          return value;
        };
        const numeric = (8 * ((await at(h)) - (await at(-h))) - ((await at(2 * h)) - (await at(-2 * h)))) / (12 * h);
        const error = Math.abs(g.data[i]! - numeric);
        maxError = Math.max(maxError, error);
        checked++;
        expect(error, `${p.name}[${i}]: ${g.data[i]} vs ${numeric}`).toBeLessThan(5e-3 + 2e-2 * Math.abs(numeric));
      }
    }
    console.log(`[import-grad] LoRA factors vs finite differences: ${checked} elements, max abs error ${maxError.toExponential(2)}`);
    await Promise.all([trainSession.release(), forwardSession.release()]);
  });

  it("a LoRA target that matches no node is an error naming the target and the file", () => {
    expect(() => compileForward("bad", (scope, graph) => ({ out: build(scope, graph).out }), { lora: { rank: 2, alpha: 2, targets: ["attn.to_qq"] } }))
      .toThrow(/sd3_transformer\.onnx.*LoRA target 'attn\.to_qq' match no MatMul\/Gemm weight or node scope \(modules here look like: .*transformer_blocks\.0\.attn\.to_q/);
  });
});
