import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { decodePipelineConfig, loadPipelineFile } from "../../src/pipeline/config/index.ts";

const writeFiles = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-config-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

const loadError = (file: string) => Effect.runPromise(Effect.flip(loadPipelineFile(file)));
const inlineError = (input: unknown) => Effect.runPromise(Effect.flip(decodePipelineConfig(input, "inline.yaml")));

describe("field errors name the file, the path, the expectation and the value", () => {
  it("an unknown key at any depth, with a suggestion", async () => {
    const error = await inlineError({ learner: { ema: { evrey: 4 } } });
    expect(error._tag).toBe("PipelineFieldError");
    if (error._tag !== "PipelineFieldError") return;
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ file: "inline.yaml", path: "learner.ema.evrey", found: "4" });
    expect(error.issues[0]!.expected).toContain('did you mean "every"?');
    expect(error.message).toContain("inline.yaml: learner.ema.evrey");
  });

  it("an unknown top-level section and an unknown key inside a list item", async () => {
    const error = await inlineError({ trainer: {}, rewards: [{ kind: "ocr", lamda: 0.2 }] });
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(["rewards.0.lamda", "trainer"]);
  });

  it("a wrong type", async () => {
    const error = await inlineError({ learner: { lr: "fast" } });
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toEqual({ file: "inline.yaml", path: "learner.lr", expected: "number", found: '"fast"' });
  });

  it("a value out of range, an integer expected, an unknown enum value", async () => {
    const error = await inlineError({ learner: { lr: -1 }, sampler: { steps: 2.5, kind: "ddim" } });
    if (error._tag !== "PipelineFieldError") throw error;
    const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue]));
    expect(byPath["learner.lr"]).toMatchObject({ expected: "a value greater than 0", found: "-1" });
    expect(byPath["sampler.steps"]).toMatchObject({ expected: "an integer", found: "2.5" });
    expect(byPath["sampler.kind"]).toMatchObject({ expected: '"cps" | "sde" | "ode"', found: '"ddim"' });
  });

  it("a reward component of an unknown kind", async () => {
    const error = await inlineError({ rewards: [{ kind: "pickscore" }] });
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]!.path).toBe("rewards.0");
    expect(error.issues[0]!.expected).toContain('"adversarial-dino" | "dino-similarity" | "frozen-discriminator" | "ocr"');
    expect(error.issues[0]!.found).toBe('{"kind":"pickscore"}');
  });

  it("a missing required key inside an optional block", async () => {
    const error = await inlineError({ generator: { kind: "onnx", onnx: { textEncoder: "te.onnx" } } });
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toMatchObject({ path: "generator.onnx.velocityModel", found: "nothing" });
  });

  it("a single-field rule carries its fix", async () => {
    const error = await inlineError({ sampler: { groupSize: 1 }, learner: { clipRange: 0 } });
    if (error._tag !== "PipelineFieldError") throw error;
    const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.expected]));
    expect(byPath["sampler.groupSize"]).toContain("a group size of at least 2");
    expect(byPath["learner.clipRange"]).toContain("a positive clip range such as 1e-5");
  });

  it("a bad value inherited from a parent names the parent file", async () => {
    const dir = writeFiles({ "parent.yaml": "learner: { gradClip: -1 }", "child.yaml": "extends: parent.yaml\nlearner: { lr: 1.0e-5 }" });
    const error = await loadError(join(dir, "child.yaml"));
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.file).toBe(join(dir, "child.yaml"));
    expect(error.issues[0]).toMatchObject({ file: join(dir, "parent.yaml"), path: "learner.gradClip" });
  });

  it("a file that is not a mapping", async () => {
    const error = await loadError(join(writeFiles({ "list.yaml": "- a\n- b\n" }), "list.yaml"));
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toMatchObject({ path: "(top level)", found: '["a","b"]' });
  });
});

describe("file errors", () => {
  it("YAML syntax errors give the line", async () => {
    const file = join(writeFiles({ "bad.yaml": "run:\n  name: x\n  seed: [1, 2\n" }), "bad.yaml");
    const error = await loadError(file);
    if (error._tag !== "PipelineYamlError") throw error;
    expect(error.file).toBe(file);
    expect(error.line).toBeGreaterThanOrEqual(3);
  });

  it("duplicate keys are YAML errors, not silent overrides", async () => {
    const error = await loadError(join(writeFiles({ "dup.yaml": "run: { seed: 1 }\nrun: { seed: 2 }\n" }), "dup.yaml"));
    expect(error._tag).toBe("PipelineYamlError");
  });

  it("a missing file names its path", async () => {
    const file = resolve("no/such/pipeline.yaml");
    const error = await loadError(file);
    if (error._tag !== "PipelineFileError") throw error;
    expect(error.file).toBe(file);
    expect(error.message).toContain(file);
  });

  it("a missing extends target names the path and the file extending it", async () => {
    const dir = writeFiles({ "child.yaml": "extends: ./gone.yaml\n" });
    const error = await loadError(join(dir, "child.yaml"));
    if (error._tag !== "PipelineFileError") throw error;
    expect(error.file).toBe(join(dir, "gone.yaml"));
    expect(error.extendedFrom).toBe(join(dir, "child.yaml"));
  });

  it("an unknown preset lists the available ones", async () => {
    const error = await loadError(join(writeFiles({ "child.yaml": "extends: adv-grop\n" }), "child.yaml"));
    if (error._tag !== "PipelineFileError") throw error;
    expect(error.reason).toContain('no preset named "adv-grop"');
    expect(error.reason).toContain("adv-grpo");
  });

  it("a cycle of extends names the chain", async () => {
    const dir = writeFiles({ "a.yaml": "extends: b.yaml\n", "b.yaml": "extends: c.yaml\n", "c.yaml": "extends: a.yaml\n" });
    const error = await loadError(join(dir, "a.yaml"));
    if (error._tag !== "PipelineExtendsCycle") throw error;
    expect(error.chain).toEqual(["a.yaml", "b.yaml", "c.yaml", "a.yaml"].map((name) => join(dir, name)));
    expect(error.message).toContain("a.yaml -> ");
  });

  it("extends must be a string", async () => {
    const error = await loadError(join(writeFiles({ "x.yaml": "extends: [a, b]\n" }), "x.yaml"));
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toMatchObject({ path: "extends", found: '["a","b"]' });
  });
});

describe("invariants of the resolved pipeline, with fixes", () => {
  const violations = async (input: unknown) => {
    const error = await inlineError(input);
    if (error._tag !== "PipelineInvariantError") throw error;
    return Object.fromEntries(error.violations.map((v) => [v.path, v]));
  };

  it("the SDE window must fit inside the sampling steps", async () => {
    const v = await violations({ sampler: { steps: 4, window: { start: 3, size: 2 } } });
    expect(v["sampler.window"]!.problem).toContain("steps 3..4");
    expect(v["sampler.window"]!.fix).toContain("raise sampler.steps to at least 5");
  });

  it("a merged preset can break the window even when each file is valid", async () => {
    const dir = writeFiles({ "parent.yaml": "sampler: { window: { start: 6 } }", "child.yaml": "extends: parent.yaml\nsampler: { steps: 7 }" });
    const error = await loadError(join(dir, "child.yaml"));
    if (error._tag !== "PipelineInvariantError") throw error;
    expect(error.violations[0]).toMatchObject({ path: "sampler.window", file: join(dir, "parent.yaml") });
  });

  it("reward weights must sum above zero and kinds must be unique", async () => {
    const v = await violations({ rewards: [{ kind: "ocr", weight: 1 }, { kind: "ocr", weight: -2 }] });
    expect(v["rewards"]!.fix).toContain("positive weight");
    expect(v["rewards.1.kind"]!.fix).toContain("merge the ocr entries");
    expect((await violations({ rewards: [] }))["rewards"]!.problem).toContain("no reward components");
  });

  it("an onnx generator needs its files, and only an onnx generator takes them", async () => {
    expect((await violations({ generator: { kind: "onnx" } }))["generator.onnx"]!.fix).toContain("generator.onnx.velocityModel");
    const v = await violations({ generator: { onnx: { velocityModel: "v.onnx", textEncoder: "t.onnx" } } });
    expect(v["generator.onnx"]!.fix).toContain("set generator.kind: onnx");
    const onnx = await violations({ generator: { kind: "onnx", latentChannels: 16, onnx: { velocityModel: "v.onnx", textEncoder: "t.onnx" } } });
    expect(onnx["generator.onnx.tokenizer"]!.problem).toBe("generator.onnx.textEncoder needs its tokenizer");
    expect(onnx["generator.onnx.vaeDecoder"]!.problem).toContain("16-channel latents but no VAE decoder");
    expect(onnx["learner.lora"]!.problem).toContain("weights frozen");
    const both = await violations({ generator: { kind: "onnx", onnx: { velocityModel: "v.onnx", textEmbeddings: "e.safetensors", textEncoder: "t.onnx", tokenizer: "t.json" } } });
    expect(both["generator.onnx"]!.problem).toBe("both textEmbeddings and textEncoder are given");
  });

  it("the rest: CPS noise, frozen head, optimiser steps, zero weights, EMA", async () => {
    const v = await violations({
      sampler: { kind: "cps", noiseLevel: 1.5, groupSize: 2, promptsPerEpoch: 1 },
      rewards: [{ kind: "frozen-discriminator" }],
      learner: { stepsPerEpoch: 3, ema: { enabled: false } },
      discriminator: { lossWeights: { global: 0, local: 0 } },
    });
    expect(Object.keys(v).sort()).toEqual(
      ["discriminator.lossWeights", "eval.useEma", "learner.stepsPerEpoch", "rewards.0", "sampler.noiseLevel"].sort(),
    );
    expect(v["learner.stepsPerEpoch"]!.fix).toContain("at most 1");
    expect(v["rewards.0"]!.fix).toContain("discriminator.warmupEpochs");
  });

  it("a policy lag only with objectives that need no more than the recorded sampling log-probs", async () => {
    const v = await violations({ learner: { maxPolicyLag: 1, ratioNormalisation: "grpo-guard" } });
    expect(v["learner.maxPolicyLag"]!.problem).toContain("GRPO-Guard's ratio normalisation needs those weights themselves");
    expect(v["learner.maxPolicyLag"]!.fix).toContain("set learner.maxPolicyLag: 0");
    // Plain GRPO at lag 1 is fine, with or without a distributed: section.
    await expect(Effect.runPromise(decodePipelineConfig({ learner: { maxPolicyLag: 1 } }, "inline.yaml"))).resolves.toMatchObject({ learner: { maxPolicyLag: 1 } });
  });
});

describe("learner.objective fits the sampler", () => {
  const violations = async (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-objective-"));
    writeFileSync(join(dir, "p.yaml"), text);
    const exit = await Effect.runPromiseExit(loadPipelineFile(join(dir, "p.yaml")));
    return String(exit._tag === "Failure" ? exit.cause : "");
  };
  it("refuses GRPO on ODE rollouts, CFG-free GRPO over CFG samples, and GRPO-Guard where it cannot apply", async () => {
    expect(await violations("sampler: { kind: ode }")).toMatch(/sampler\.kind[\s\S]*ODE sampler has none/);
    expect(await violations("learner: { guidance: none }")).toMatch(/learner\.guidance[\s\S]*set sampler\.cfgWeight: 1/);
    expect(await violations("learner: { objective: nft, ratioNormalisation: grpo-guard }")).toMatch(/ratios, which nft does not have/);
    expect(await violations("learner: { ratioNormalisation: grpo-guard }")).toMatch(/sampler\.logProb: gaussian/);
    expect(await violations("sampler: { kind: ode }\nlearner: { objective: nft, guidance: none }")).toBe("");
    expect(await violations("sampler: { steps: 4 }\nlearner: { objective: nft }")).toMatch(/at most 4/);
  });
});
