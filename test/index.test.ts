import { describe, expect, it } from "vitest";
import * as advgrpo from "../src/index.ts";

describe("public API", () => {
  it("exports the engine, the algorithm pieces and the pipeline from one module", () => {
    for (const name of ["Graph", "gradients", "compileTrainStep", "LocalSession", "OrtRuntime", "optim", "FlowSampler", "clippedSurrogate", "GeneratorLearner", "Discriminator", "openRolloutLog", "readRolloutLog", "stages", "loadPipelineFile", "runTraining", "evaluateSamples"]) {
      expect(advgrpo, name).toHaveProperty(name);
    }
    expect(typeof advgrpo.stages.forEachEpoch).toBe("function");
    expect(typeof advgrpo.optim.adamW).toBe("function");
  });
});
