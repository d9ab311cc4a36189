/**
 * The default generator side by side with PyTorch eager (pytorch_dit.py, same layers and shapes): forward at
 * the sampler's batch and train step (forward + backward + AdamW) at the learner's, alternated round by round
 * so both sides see the same load. Needs /usr/bin/python3 with torch (Debian's python3-torch); skipped with a
 * note when it is missing. PyTorch runs with OPENBLAS_NUM_THREADS=1 and the same thread count as ORT's
 * intra-op pool: OpenMP and OpenBLAS threads together oversubscribe the cores (docs/platform-notes); its
 * idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) as ORT's do with spinning off. The baseline is that torch
 * on OpenBLAS (libopenblas0-pthread): Debian's python3-torch links libblas.so.3, which without OpenBLAS installed
 * is the reference BLAS, about 15x slower on these products, so the report prints the library the process mapped.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { meanAll, square, sub } from "../graph/ops.ts";
import { type DiTConfig, ditVelocity } from "../models/generator/dit.ts";
import { GENERATOR_NAMES } from "../models/generator/contract.ts";
import { velocityModel } from "../models/generator/network.ts";
import { initParams } from "../nn/params.ts";
import { adamW } from "../optim/adam.ts";
import { defaultExecution } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32, type Feeds } from "../runtime/tensors.ts";
import { compileForward, compileTrainStep, type ModelBuilder, paramFeeds, runTrainStep } from "../train/train-graph.ts";
import { type OneRun, timeOnce } from "../util/measure.ts";
import { makeRng } from "../util/prng.ts";

const PYTHON = "/usr/bin/python3";
const script = fileURLToPath(new URL("./pytorch_dit.py", import.meta.url));

/** Why the comparison cannot run here, or undefined when it can. */
export const pytorchMissing = (): string | undefined => {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8", timeout: 60_000 });
  return probe.status === 0 ? undefined : `${PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-pthread)`;
};

interface PytorchComparison {
  readonly torchVersion: string;
  /** The BLAS library file(s) the PyTorch process mapped (OpenBLAS is the baseline; the reference BLAS is ~15x slower). */
  readonly blas: string;
  readonly parameters: number;
  readonly rounds: number;
  readonly forward: SideBySide;
  readonly trainStep: SideBySide;
}

/**
 * Medians in milliseconds, and medians of the per-round ratios engine / PyTorch, of elapsed time and of CPU time
 * (all threads of each process). On a loaded machine CPU time is the steadier of the two: it does not count
 * the time a thread waited for a core.
 */
interface SideBySide {
  readonly engineMs: number;
  readonly torchMs: number;
  readonly ratio: number;
  readonly engineCpuMs: number;
  readonly torchCpuMs: number;
  readonly cpuRatio: number;
}


/** Flow-matching velocity loss on fed inputs, the step pytorch_dit.py takes. */
const velocityLoss = (config: DiTConfig, batch: number): ModelBuilder => (scope, graph) => {
  const image = [batch, config.channels, config.size, config.size];
  const velocity = ditVelocity(
    scope,
    { latents: graph.input("latents", "float32", image), sigma: graph.input("sigma", "float32", [batch]), pooledText: graph.input("pooled", "float32", [batch, config.textWidth]) },
    config,
  );
  return { loss: meanAll(square(sub(velocity, graph.input("target", "float32", image)))) };
};

/** One line out, one line back. */
const lineChannel = (child: ChildProcessWithoutNullStreams) => {
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.(line));
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<never>((_, reject) => child.on("exit", (code) => reject(new Error(`${script} exited with code ${code}: ${stderr.trim().slice(-2000)}`))));
  return (line: string): Promise<string> => {
    const reply = new Promise<string>((resolve) => waiting.push(resolve));
    child.stdin.write(`${line}\n`);
    return Promise.race([reply, exited]);
  };
};

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const compareWithPytorch = async (config: DiTConfig, o: { forwardBatch: number; trainBatch: number; rounds: number; warmup: number }): Promise<PytorchComparison> => {
  const rng = makeRng(3);
  const normal = (shape: readonly number[]) => f32(shape, rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1))));
  const image = (batch: number) => [batch, config.channels, config.size, config.size];
  const forwardGraph = compileForward("bench-dit-forward", velocityModel(config, o.forwardBatch));
  const trainGraph = compileTrainStep("bench-dit-train", velocityLoss(config, o.trainBatch));
  const forwardParams = initParams(forwardGraph.params, 1);
  const trainParams = initParams(trainGraph.params, 1);
  const forwardFeeds: Feeds = {
    ...paramFeeds(forwardParams),
    [GENERATOR_NAMES.latents]: normal(image(o.forwardBatch)),
    [GENERATOR_NAMES.sigma]: f32([o.forwardBatch], rng.fillNormal(new Float32Array(o.forwardBatch)).map(Math.abs)),
    [GENERATOR_NAMES.pooled]: normal([o.forwardBatch, config.textWidth]),
  };
  const trainData: Feeds = { latents: normal(image(o.trainBatch)), sigma: f32([o.trainBatch], rng.fillNormal(new Float32Array(o.trainBatch)).map(Math.abs)), pooled: normal([o.trainBatch, config.textWidth]), target: normal(image(o.trainBatch)) };
  const forward = await LocalSession.create(forwardGraph.name, forwardGraph.bytes);
  const train = await LocalSession.create(trainGraph.name, trainGraph.bytes);
  const optimizer = adamW(trainParams, { lr: 1e-5 });
  // OMP_WAIT_POLICY=PASSIVE is the counterpart of ORT's spinning off: idle OpenMP threads sleep instead of spinning.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: String(defaultExecution.intraOpThreads), OMP_WAIT_POLICY: "PASSIVE" };
  const child = spawn(PYTHON, [script], { env });
  const ask = lineChannel(child);
  try {
    const hello = JSON.parse(await ask(JSON.stringify({ ...config, forwardBatch: o.forwardBatch, trainBatch: o.trainBatch, threads: defaultExecution.intraOpThreads }))) as { torch: string; parameters: number; blas: string };
    const engineForward = () => timeOnce(() => forward.run(forwardFeeds, [GENERATOR_NAMES.velocity]));
    const engineTrain = () => timeOnce(async () => optimizer.step((await runTrainStep(train, trainGraph, trainParams, trainData)).grads));
    const torchRun = async (command: string): Promise<OneRun> => {
      const [ms, cpuMs] = (await ask(command)).split(" ").map(Number);
      return { ms: ms!, cpuMs: cpuMs! };
    };
    const rounds: { engine: OneRun; torch: OneRun }[][] = [];
    for (let r = 0; r < o.warmup + o.rounds; r++) {
      const round = [
        { engine: await engineForward(), torch: await torchRun("forward") },
        { engine: await engineTrain(), torch: await torchRun("train") },
      ];
      if (r >= o.warmup) rounds.push(round);
    }
    const summary = (k: number): SideBySide => {
      const pairs = rounds.map((r) => r[k]!);
      return {
        engineMs: median(pairs.map((p) => p.engine.ms)),
        torchMs: median(pairs.map((p) => p.torch.ms)),
        ratio: median(pairs.map((p) => p.engine.ms / p.torch.ms)),
        engineCpuMs: median(pairs.map((p) => p.engine.cpuMs)),
        torchCpuMs: median(pairs.map((p) => p.torch.cpuMs)),
        cpuRatio: median(pairs.map((p) => p.engine.cpuMs / p.torch.cpuMs)),
      };
    };
    return { torchVersion: hello.torch, blas: hello.blas, parameters: hello.parameters, rounds: o.rounds, forward: summary(0), trainStep: summary(1) };
  } finally {
    child.stdin.end("quit\n");
    await Promise.all([forward.release(), train.release()]);
  }
};
