/**
 * `advgrpo bench import <model.onnx> [<3 blocks, 2 dual>.onnx <3 blocks, 1 dual>.onnx]`: what importing
 * a real-size generator costs, next to an ORT MatMul measured in the same run.
 * The models come from `/usr/bin/python3 test/fixtures/onnx/make_fixtures.py --sd35-medium-shape B D out.onnx`:
 * SD3.5-Medium's widths with B joint blocks (the first D with dual attention), random weights.
 * - the first model: load + import + build of a LoRA training graph at 256 px (batch 1, 333 text tokens),
 *   bytes written (external data past 2 GB), peak RSS after each stage, one train step's seconds and GFLOP/s;
 * - with the two others: the training graph's peak activation memory and FLOPs at 256 and 512 px for 2 and 3 blocks,
 *   extrapolated to SD3.5-Medium's 24 (13 dual, 10 plain, 1 context-only) since blocks add linearly.
 * It starts with the build cost of the default DiT's training graph for comparison.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gradients } from "../autodiff/gradients.ts";
import { writeGraph } from "../graph/external-data.ts";
import { graphFlops } from "../graph/flops.ts";
import { Graph, numel } from "../graph/graph.ts";
import { importInto, loadOnnx } from "../graph/import.ts";
import { estimateMemory, type MemoryEstimate } from "../graph/memory.ts";
import { meanAll, square, sub } from "../graph/ops.ts";
import { defaultDiTConfig } from "../models/generator/dit.ts";
import { flowMatchingModel } from "../models/generator/network.ts";
import { initParams, type LoraConfig, ParamScope } from "../nn/params.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { compileTrainStep } from "../train/train-graph.ts";
import { makeRng } from "../util/prng.ts";
import { benchMatMul } from "./matmul.ts";

/** diffusers' train_dreambooth_lora_sd3.py default targets, rank 16. */
const LORA: LoraConfig = {
  rank: 16,
  alpha: 16,
  targets: ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out"],
};
/** SD3's text sequence: 77 CLIP tokens + 256 T5 tokens. */
const TEXT_TOKENS = 333;

const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;
const seconds = (start: number): number => (performance.now() - start) / 1000;
const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** The LoRA training graph of an SD3-class transformer at `px` pixels (latent px/8), flow-matching MSE against a target. */
const trainGraph = (modelPath: string, px: number) => {
  const model = loadOnnx(modelPath);
  const graph = new Graph("sd3-lora-train");
  const scope = new ParamScope(graph, { lora: LORA });
  const latent = [1, 16, px / 8, px / 8];
  const bind = {
    hidden_states: graph.input("hidden_states", "float32", latent),
    timestep: graph.input("timestep", "float32", [1]),
    encoder_hidden_states: graph.input("encoder_hidden_states", "float32", [1, TEXT_TOKENS, 4096]),
    pooled_projections: graph.input("pooled_projections", "float32", [1, 2048]),
  };
  const target = graph.input("target", "float32", latent);
  const { outputs } = importInto(graph, model, { bind, scope });
  const loss = graph.output(meanAll(square(sub(outputs.out_hidden_states!, target))), "loss");
  const grads = gradients(loss, scope.specs.map((s) => scope.tensor(s.name)));
  grads.forEach((g, i) => graph.output(g, `grad:${scope.specs[i]!.name}`));
  return { graph, scope, weights: [...model.initializers.values()].reduce((n, c) => n + c.values.byteLength, 0) };
};

const randomFeeds = (inputs: readonly { name: string; shape: readonly number[] }[], seed: number): Feeds => {
  const rng = makeRng(seed);
  return Object.fromEntries(inputs.map((t) => [t.name, f32(t.shape, Float32Array.from({ length: numel(t.shape) }, () => (t.name === "timestep" ? 500 : rng.normal())))]));
};

export const runImportBench = async (args: readonly string[], log: (line: string) => void = console.log): Promise<void> => {
  const [modelPath, dualPath, plainPath] = args;
  if (!modelPath) throw new Error("usage: advgrpo bench import <model.onnx> [<3 blocks 2 dual>.onnx <3 blocks 1 dual>.onnx]  (make them with make_fixtures.py --sd35-medium-shape)");
  const baseline = await benchMatMul(1024);
  log(`baseline: ORT MatMul 1024x1024 fp32 ${baseline.ms.toFixed(1)} ms, ${baseline.gflops.toFixed(1)} GFLOP/s; peak RSS so far ${peakRssMB().toFixed(0)} MB\n`);

  let start = performance.now();
  const dit = compileTrainStep("dit-train", flowMatchingModel(defaultDiTConfig, 16));
  log(`default DiT training graph (batch 16): built in ${seconds(start).toFixed(2)} s, ${dit.bytes.byteLength} bytes to write, peak RSS ${peakRssMB().toFixed(0)} MB\n`);

  start = performance.now();
  let built: ReturnType<typeof trainGraph> | undefined = trainGraph(modelPath, 256);
  const { scope, weights } = built;
  const buildS = seconds(start);
  const nodes = built.graph.nodes.length;
  const flops = graphFlops(built.graph);
  const dataNames = built.graph.inputs.map((t) => ({ name: t.name, shape: t.shape }));
  log(`${modelPath}: ${gb(weights)} of weights; load + import + LoRA training graph at 256 px: ${buildS.toFixed(1)} s, ${nodes} nodes, peak RSS ${peakRssMB().toFixed(0)} MB`);
  const memory256 = estimateMemory(built.graph);
  log(`  estimated peak activations of the training graph at 256 px: ${gb(memory256.peakActivationBytes)} (at ${memory256.peakNode})`);
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-bench-import-"));
  let stepRate = 0;
  try {
    start = performance.now();
    // Weights go straight from the decoded arrays to the data file: no protobuf copy of them.
    const written = writeGraph(built.graph, join(dir, "train.onnx"), { external: "always" });
    built = undefined; // the decoded weights are garbage from here; ORT reads its own copy from the file
    log(`  written in ${seconds(start).toFixed(1)} s: ${written.modelBytes} bytes of graph + ${written.dataBytes} bytes of external data; peak RSS ${peakRssMB().toFixed(0)} MB`);
    start = performance.now();
    const session = await LocalSession.createFromFile("sd3-lora-train", written.modelPath);
    log(`  ORT session: ${seconds(start).toFixed(1)} s; peak RSS ${peakRssMB().toFixed(0)} MB`);
    const params = initParams(scope.specs, 1);
    const feeds: Feeds = { ...randomFeeds(dataNames, 2), ...Object.fromEntries(params.map((p) => [p.name, f32(p.shape, p.data)])) };
    const steps: number[] = [];
    for (let i = 0; i < 2; i++) {
      start = performance.now();
      await session.run(feeds, ["loss"]);
      steps.push(seconds(start));
    }
    await session.release();
    const rate = flops / steps[1]! / 1e9;
    stepRate = rate * 1e9;
    log(`  LoRA train step (rank ${LORA.rank}, ${scope.specs.length} factors): ${steps.map((s) => s.toFixed(1)).join(" s, then ")} s; ${(flops / 1e9).toFixed(0)} GFLOP -> ${rate.toFixed(1)} GFLOP/s = ${((100 * rate) / baseline.gflops).toFixed(0)}% of the MatMul; peak RSS ${peakRssMB().toFixed(0)} MB\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  if (dualPath && plainPath) {
    for (const px of [256, 512]) {
      const measureAt = (path: string): MemoryEstimate & { flops: number } => {
        const built = trainGraph(path, px).graph;
        return { ...estimateMemory(built), flops: graphFlops(built) };
      };
      const [a, d, p] = [measureAt(modelPath), measureAt(dualPath), measureAt(plainPath)];
      const extrapolate = (f: (m: MemoryEstimate & { flops: number }) => number) => f(a) + 12 * (f(d) - f(a)) + 10 * (f(p) - f(a));
      const flops24 = extrapolate((m) => m.flops);
      log(`training graph at ${px} px, batch 1: peak activations 2 blocks ${gb(a.peakActivationBytes)}, +dual block ${gb(d.peakActivationBytes - a.peakActivationBytes)}, +plain block ${gb(p.peakActivationBytes - a.peakActivationBytes)}`);
      log(`  SD3.5-Medium (24 blocks) extrapolated: peak activations ${gb(extrapolate((m) => m.peakActivationBytes))}, weights ${gb(extrapolate((m) => m.weightBytes))}, ${(flops24 / 1e12).toFixed(2)} TFLOP per LoRA step (${(flops24 / stepRate).toFixed(0)} s at this run's step rate); peak RSS ${peakRssMB().toFixed(0)} MB`);
    }
  }
};
