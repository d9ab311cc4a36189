/**
 * What ORT's graph optimisation levels cost and break for an imported generator. Fusions can rewrite the sampler's
 * forward-only graph and the learner's training graph differently, and the first ratio of an epoch then misses 1 by
 * an ulp; the pipeline runs imported generators at IMPORTED_POLICY_EXECUTION (src/pipeline/policy.ts). Per level,
 * on the real policy graphs (guided velocity, GRPO loss with LoRA; src/bench/on-policy.ts):
 * - the sampler's forward, elapsed and CPU time (all threads), medians of rounds that visit every level in turn, as
 *   ratios to the first level measured in the same run;
 * - the on-policy check: transitions sampled from a few seeds, then the learner's log-probs of them (identical to the
 *   sampler's or not) and its first ratios.
 */
import { existsSync } from "node:fs";
import { loadOnnx } from "../graph/import.ts";
import { IMPORTED_POLICY_EXECUTION } from "../pipeline/policy.ts";
import { defaultExecution, type ExecutionConfig } from "../runtime/execution.ts";
import type { LocalSession } from "../runtime/local-session.ts";
import { GraphSessions } from "../train/open-graph.ts";
import { importedPolicyGraphs, learnerAgreement, sampleTransitions, velocityOf } from "./on-policy.ts";

interface OptimisationLevel {
  readonly name: string;
  readonly execution: ExecutionConfig;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const SD3_BENCH_MODEL_ENV = "ADVGRPO_BENCH_SD3";
const MAKE_MODEL = "/usr/bin/python3 test/fixtures/onnx/make_fixtures.py --sd35-medium-shape 2 1 <out.onnx>";

const benchLevels = async (
  modelPath: string,
  o: { readonly latentSize: number; readonly textTokens: number; readonly cfgWeight: number; readonly timedRuns: number; readonly seeds: readonly number[]; readonly levels: readonly OptimisationLevel[] },
  log: (line: string) => void,
): Promise<void> => {
  const graphs = importedPolicyGraphs(loadOnnx(modelPath), o);
  log(
    `${modelPath}: latents ${graphs.latentShape.join("x")} (${8 * o.latentSize} px), ${o.textTokens} text tokens, CFG ${o.cfgWeight}, batch 1, LoRA; ` +
      `velocity graph ${graphs.velocity.graph.nodes.length} nodes, loss graph ${graphs.loss.graph.nodes.length} nodes; ${o.seeds.length} sampled transitions per level`,
  );
  type Open = { readonly level: OptimisationLevel; readonly sessions: GraphSessions; readonly velocity: LocalSession; readonly steps: Awaited<ReturnType<typeof sampleTransitions>>; readonly ms: number[]; readonly cpuMs: number[] };
  const opened: Open[] = [];
  try {
    for (const level of o.levels) {
      const sessions = new GraphSessions();
      const velocity = await sessions.open(graphs.velocity, level.execution);
      // sampling the transitions also warms the session up
      opened.push({ level, sessions, velocity, steps: await sampleTransitions(graphs, velocity, o.seeds), ms: [], cpuMs: [] });
    }
    const x = new Float32Array(graphs.latentShape.reduce((a, b) => a * b, 1)).fill(0.5);
    for (let round = 0; round < o.timedRuns; round++) {
      for (const open of opened) {
        const [start, cpu] = [performance.now(), process.cpuUsage()];
        await velocityOf(graphs, open.velocity)(x, Float32Array.of(0.5));
        const used = process.cpuUsage(cpu);
        open.ms.push(performance.now() - start);
        open.cpuMs.push((used.user + used.system) / 1000);
      }
    }
    for (const open of opened) await open.velocity.release();
    const first = { ms: median(opened[0]!.ms), cpuMs: median(opened[0]!.cpuMs) };
    for (const open of opened) {
      const learner = await open.sessions.open(graphs.loss, open.level.execution);
      const agreement = await learnerAgreement(graphs, learner, open.steps);
      await learner.release();
      open.sessions.release();
      const [ms, cpuMs] = [median(open.ms), median(open.cpuMs)];
      const logProbs = agreement.maxLogProbDiff === 0 ? "identical" : `differ by up to ${agreement.maxLogProbDiff.toExponential(2)}`;
      log(
        `  ${open.level.name.padEnd(44)} forward ${ms.toFixed(0).padStart(6)} ms (${(ms / first.ms).toFixed(2)}x), CPU ${cpuMs.toFixed(0).padStart(6)} ms (${(cpuMs / first.cpuMs).toFixed(2)}x)` +
          `  learner's log-probs ${logProbs}; first ratios [${agreement.ratioMin}, ${agreement.ratioMax}]`,
      );
    }
  } finally {
    for (const open of opened) open.sessions.release();
  }
};

/**
 * `advgrpo bench graph-optimisation <model.onnx>`, and the last section of `npm run bench` when ADVGRPO_BENCH_SD3 names
 * a model: an SD3.5-Medium-width transformer (2 blocks, 0.68 GiB, made by MAKE_MODEL) at 256 px, SD3's 333 text
 * tokens, CFG 4.5, batch 1, the pipeline's default cps sampler. Ratios are against "disabled".
 */
export const runGraphOptimisationBench = async (modelPath: string | undefined, log: (line: string) => void = console.log): Promise<void> => {
  log("\nORT graph optimisation for an imported generator: the sampler's forward time, and whether the learner's log-probs equal the sampler's");
  if (!modelPath || !existsSync(modelPath)) {
    log(`  skipped: no model (${modelPath ?? `${SD3_BENCH_MODEL_ENV} unset`}); make one with ${MAKE_MODEL} and set ${SD3_BENCH_MODEL_ENV}=<out.onnx>, or run npm run bench -- graph-optimisation <out.onnx>`);
    return;
  }
  const level = (name: string, execution: Partial<ExecutionConfig>): OptimisationLevel => ({ name, execution: { ...defaultExecution, ...execution } });
  const levels = [
    level("disabled", { graphOptimization: "disabled" }),
    level("basic", { graphOptimization: "basic" }),
    level(`pipeline's: basic without ${IMPORTED_POLICY_EXECUTION.disabledOptimizers.join(", ")}`, IMPORTED_POLICY_EXECUTION),
    level("extended", { graphOptimization: "extended" }),
  ];
  await benchLevels(modelPath, { latentSize: 32, textTokens: 333, cfgWeight: 4.5, timedRuns: 3, seeds: [7, 8], levels }, log);
};
