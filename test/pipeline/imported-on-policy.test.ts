/**
 * The execution an imported generator's policy graphs run at (IMPORTED_POLICY_EXECUTION: ORT "basic" without
 * DivMulFusion) keeps the learner's log-probs of sampled transitions bit-identical to the sampler's through the
 * torch-exported tiny SD3 transformer; plain "basic" does not (the rule is what breaks it).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importedPolicyGraphs, learnerAgreement, sampleTransitions } from "../../src/bench/on-policy.ts";
import { loadOnnx } from "../../src/graph/import.ts";
import { IMPORTED_POLICY_EXECUTION } from "../../src/pipeline/policy.ts";
import { defaultExecution, type ExecutionConfig } from "../../src/runtime/execution.ts";
import { GraphSessions } from "../../src/train/open-graph.ts";

const graphs = importedPolicyGraphs(loadOnnx(join(process.cwd(), "test/fixtures/onnx/sd3_transformer.onnx")), { latentSize: 8, textTokens: 5, cfgWeight: 4.5 });

/** `fileAbove` 0 sends the graphs through the shared weight file with prepacking off, the path of a real import. */
const agreementAt = async (execution: ExecutionConfig, fileAbove?: number) => {
  const sessions = new GraphSessions(fileAbove);
  try {
    const velocity = await sessions.open(graphs.velocity, execution);
    const steps = await sampleTransitions(graphs, velocity, [1, 2, 3, 4, 5, 6]);
    await velocity.release();
    const learner = await sessions.open(graphs.loss, execution);
    const agreement = await learnerAgreement(graphs, learner, steps);
    await learner.release();
    return agreement;
  } finally {
    sessions.release();
  }
};

describe("ORT optimisation of an imported generator's policy graphs", () => {
  it("keeps the learner's log-probs identical to the sampler's at the pipeline's setting, and not at plain basic", async () => {
    const pipeline = { ...defaultExecution, ...IMPORTED_POLICY_EXECUTION };
    expect(await agreementAt(pipeline)).toEqual({ ratioMin: 1, ratioMax: 1, maxLogProbDiff: 0 });
    expect(await agreementAt(pipeline, 0)).toEqual({ ratioMin: 1, ratioMax: 1, maxLogProbDiff: 0 });
    const basic = await agreementAt({ ...defaultExecution, graphOptimization: "basic" });
    expect(basic.maxLogProbDiff).toBeGreaterThan(0);
  });
});
