/**
 * `advgrpo bench weights <model.onnx>`: memory and disk of an imported generator's three policy graphs (the
 * sampler's velocity, the evaluation's velocity and the learner's GRPO loss, built as src/pipeline/policy.ts
 * builds them and run at its ORT setting, IMPORTED_POLICY_EXECUTION), each way of loading them measured in a
 * fresh child process so peak RSS is its own:
 * - in-memory: each session from its serialised protobuf (what a graph under 1.8 GiB did in round 2);
 * - own-files: each graph with its own external-data file (what a graph past 1.8 GiB did in round 2);
 * - shared-prepacked: one weight file for the three graphs, ORT's CPU kernels prepacking their weights
 *   (compute.shareImportedWeights: false);
 * - shared: one weight file, prepacking off, so the sessions read ORT's one mapping of it (the default).
 * In both shared ways the file is sealed and the decoded import dropped once the sessions are open, as buildPolicy
 * does (the other two ways keep them, as round 2 did).
 * Per way: build seconds, bytes written, RSS and PSS (proportional set size: a page mapped three times
 * counts once) once the sessions are open and after one run of each, the peak RSS, and the median of three
 * further loss-graph runs (a LoRA learner step). The in-memory way is the baseline of the ratios. Sizes are
 * small (latent 16x16x16, 77 text tokens, groups of 2) so the figures are the weights' share. With
 * --keep-float16 an fp16 export's weights stay fp16 (generator.onnx.float16Weights: keep).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeGraph } from "../graph/external-data.ts";
import { loadOnnx } from "../graph/import.ts";
import { cpsMethod } from "../flow/steps.ts";
import { onnxNetwork } from "../models/generator/onnx-network.ts";
import { IMPORTED_POLICY_EXECUTION } from "../pipeline/policy.ts";
import { initParams, isAdapterParam } from "../nn/params.ts";
import { guidedVelocityModel, POLICY_INPUTS, type PolicyConfig, policyLossModel } from "../rl/policy-graph.ts";
import { defaultExecution } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { GraphSessions } from "../train/open-graph.ts";
import { type CompiledGraph, compileForward, compileTrainStep, paramFeeds } from "../train/train-graph.ts";
import { makeRng } from "../util/prng.ts";

const MODES = ["in-memory", "own-files", "shared-prepacked", "shared"] as const;
type Mode = (typeof MODES)[number];

const LATENT = [16, 16, 16] as const;
const TOKENS = 77;
const GROUP = 2;
const LORA = { rank: 16, alpha: 16, targets: ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0"] };

interface Figures {
  readonly mode: Mode;
  readonly buildSeconds: number;
  readonly openSeconds: number;
  readonly bytesWritten: number;
  readonly opened: { readonly rssMB: number; readonly pssMB: number };
  readonly ran: { readonly rssMB: number; readonly pssMB: number };
  readonly peakRssMB: number;
  readonly weightMB: number;
  readonly lossStepSeconds: number;
  /** shared only: loss step time without prepacking over with it, alternated in one process (wall, CPU of all threads). */
  readonly prepackedRatio?: number;
  readonly prepackedCpuRatio?: number;
}

/** Resident and proportional set size of this process (Linux). */
const memory = () => {
  const rollup = readFileSync("/proc/self/smaps_rollup", "utf8");
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? NaN);
  return { rssMB: kB("Rss") / 1024, pssMB: kB("Pss") / 1024 };
};

const feedsFor = (compiled: Pick<CompiledGraph, "params" | "dataInputs">, seed: number): Feeds => {
  const rng = makeRng(seed);
  const params = initParams(compiled.params, seed);
  const data = Object.fromEntries(
    compiled.dataInputs.map(({ name, shape }) => {
      const values = rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)));
      if (name === POLICY_INPUTS.sigma || name === POLICY_INPUTS.sigmaNext) values.fill(name === POLICY_INPUTS.sigma ? 0.8 : 0.6);
      return [name, f32(shape, values)];
    }),
  );
  return { ...paramFeeds(params), ...data };
};

const measure = async (modelPath: string, mode: Mode, float16: "widen" | "keep"): Promise<Figures> => {
  const start = performance.now();
  const net = onnxNetwork(loadOnnx(modelPath, { float16 }), { latentShape: [...LATENT], text: { pooledWidth: 2048, tokenShape: [TOKENS, 4096] }, timestepScale: 1000 });
  const policy: PolicyConfig = { net, batch: GROUP, cfgWeight: 1 };
  const graphs = [
    compileForward("policy-velocity", guidedVelocityModel(policy), { lora: LORA }),
    compileForward("policy-velocity-eval", guidedVelocityModel({ ...policy, batch: 1 }), { lora: LORA }),
    compileTrainStep("grpo-loss", policyLossModel({ ...policy, method: cpsMethod(), clipRange: 1e-5, klBeta: 0, ratioNormalisation: "none" }), isAdapterParam, { lora: LORA }),
  ];
  const weightMB = graphs[0]!.graph.initializers.reduce((n, t) => n + t.constValue!.byteLength, 0) / 2 ** 20;
  const buildSeconds = (performance.now() - start) / 1000;
  const execution = { ...defaultExecution, ...IMPORTED_POLICY_EXECUTION };
  const scratch = mkdtempSync(join(tmpdir(), "advgrpo-bench-weights-"));
  const shared = new GraphSessions(0, mode === "shared-prepacked");
  let bytesWritten = 0;
  const opening = performance.now();
  const sessions: LocalSession[] = [];
  for (const compiled of graphs) {
    if (mode === "in-memory") sessions.push(await LocalSession.create(compiled.name, compiled.bytes, execution));
    else if (mode !== "own-files") sessions.push(await shared.open(compiled, execution));
    else {
      const path = join(scratch, `${compiled.name}.onnx`);
      const written = writeGraph(compiled.graph, path, { external: "always" });
      bytesWritten += written.modelBytes + written.dataBytes;
      sessions.push(await LocalSession.createFromFile(compiled.name, path, execution));
    }
  }
  const inputs = graphs.map(({ params, dataInputs }) => ({ params, dataInputs }));
  if (mode !== "own-files" && mode !== "in-memory") {
    bytesWritten = shared.files.modelBytes + shared.files.weightBytes;
    // as buildPolicy does: once the sessions are open, neither the graphs nor the import they came from are kept
    shared.sealWeights();
    net.releaseWeights();
    graphs.length = 0;
  }
  const openSeconds = (performance.now() - opening) / 1000;
  const opened = memory();
  const feeds = inputs.map((g, i) => feedsFor(g, i));
  for (const [i, session] of sessions.entries()) await session.run(feeds[i]!);
  const ran = memory();
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  const stepSeconds: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    await sessions[2]!.run(feeds[2]!);
    stepSeconds.push((performance.now() - t) / 1000);
  }
  // The same loss graph with ORT's prepacking on, opened on the same file, its runs alternated with the mapped
  // session's: the speed prepacking buys, measured under the same load.
  let prepackedRatio: number | undefined;
  let prepackedCpuRatio: number | undefined;
  if (mode === "shared") {
    const prepacked = await LocalSession.createFromFile("grpo-loss-prepacked", join(shared.folder!, "grpo-loss.onnx"), execution);
    const mapped = { wall: [] as number[], cpu: [] as number[] };
    const packed = { wall: [] as number[], cpu: [] as number[] };
    for (let k = 0; k < 8; k++) {
      for (const [session, times] of [[sessions[2]!, mapped], [prepacked, packed]] as const) {
        const t = performance.now();
        const c = process.cpuUsage();
        await session.run(feeds[2]!);
        const used = process.cpuUsage(c);
        times.wall.push(performance.now() - t);
        times.cpu.push(used.user + used.system);
      }
    }
    await prepacked.release();
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    prepackedRatio = median(mapped.wall) / median(packed.wall);
    prepackedCpuRatio = median(mapped.cpu) / median(packed.cpu);
  }
  await Promise.all(sessions.map((s) => s.release()));
  shared.release();
  rmSync(scratch, { recursive: true, force: true });
  const lossStepSeconds = stepSeconds.sort((a, b) => a - b)[1]!;
  return { mode, buildSeconds, openSeconds, bytesWritten, opened, ran, peakRssMB, weightMB, lossStepSeconds, ...(prepackedRatio !== undefined ? { prepackedRatio, prepackedCpuRatio } : {}) };
};

const MARK = "advgrpo-bench-weights:";

const USAGE = "usage: advgrpo bench weights <model.onnx> [--keep-float16] (e.g. made by test/fixtures/onnx/make_fixtures.py --sd35-medium-shape 2 1 out.onnx)";

export const runPolicyMemoryBench = async (args: readonly string[], log: (line: string) => void = console.log): Promise<void> => {
  const float16 = args.includes("--keep-float16") ? "keep" : "widen";
  const [model, mode] = args.filter((a) => a !== "--keep-float16");
  if (!model) throw new Error(USAGE);
  if (mode) {
    if (!(MODES as readonly string[]).includes(mode)) throw new Error(`bench weights: mode '${mode}' is not one of ${MODES.join(", ")}`);
    log(MARK + JSON.stringify(await measure(model, mode as Mode, float16)));
    return;
  }
  log(`advgrpo bench weights — ${model}: velocity (batch ${GROUP}), evaluation (batch 1) and GRPO loss graphs, LoRA rank 16, latent ${LATENT.join("x")}, ${TOKENS} text tokens, fp16 weights: ${float16}`);
  log("each way in its own process; ratios against in-memory (round 2's way under 1.8 GiB)");
  const results: Figures[] = [];
  for (const m of MODES) {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, "bench", "weights", model, m, ...(float16 === "keep" ? ["--keep-float16"] : [])], { encoding: "utf8", maxBuffer: 1 << 24 });
    const line = out.split("\n").find((l) => l.startsWith(MARK));
    if (!line) throw new Error(`bench weights: the '${m}' process printed no figures:\n${out}`);
    results.push(JSON.parse(line.slice(MARK.length)) as Figures);
  }
  const base = results[0]!;
  log(`initialisers of each graph: ${base.weightMB.toFixed(0)} MiB`);
  log("way               build s  open s  written MB  open RSS/PSS MB  after run RSS/PSS MB  peak RSS MB (vs in-memory)  loss step s (vs in-memory)");
  for (const r of results) {
    log(
      `${r.mode.padEnd(17)} ${r.buildSeconds.toFixed(1).padStart(7)} ${r.openSeconds.toFixed(1).padStart(7)} ${(r.bytesWritten / 2 ** 20).toFixed(0).padStart(11)}` +
        `  ${r.opened.rssMB.toFixed(0).padStart(7)}/${r.opened.pssMB.toFixed(0).padEnd(7)}  ${r.ran.rssMB.toFixed(0).padStart(9)}/${r.ran.pssMB.toFixed(0).padEnd(9)}` +
        `  ${r.peakRssMB.toFixed(0).padStart(11)} (${(r.peakRssMB / base.peakRssMB).toFixed(2)}x)  ${r.lossStepSeconds.toFixed(2).padStart(14)} (${(r.lossStepSeconds / base.lossStepSeconds).toFixed(2)}x)`,
    );
  }
  const shared = results.find((r) => r.prepackedRatio !== undefined);
  if (shared) log(`loss step on the shared mapping without prepacking / with ORT's prepacking, 8 runs each alternated in one process, medians: wall ${shared.prepackedRatio!.toFixed(2)}x, CPU time ${shared.prepackedCpuRatio!.toFixed(2)}x`);
};
