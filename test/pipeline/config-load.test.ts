import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { loadPipelineFile } from "../../src/pipeline/config/index.ts";

const pipelinesDir = resolve(import.meta.dirname, "../../pipelines");
const committedFiles = [
  join(pipelinesDir, "default.yaml"),
  ...readdirSync(join(pipelinesDir, "presets")).map((name) => join(pipelinesDir, "presets", name)),
];

const load = (file: string) => Effect.runPromise(loadPipelineFile(file));

const writeFiles = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-config-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

describe("committed pipeline files", () => {
  it.each(committedFiles)("%s loads", async (file) => {
    const config = await load(file);
    expect(config.sampler.groupSize).toBeGreaterThanOrEqual(2);
  });

  it.each(committedFiles)("%s points the YAML language server at the generated schema", (file) => {
    const firstLine = readFileSync(file, "utf8").split("\n")[0]!;
    const match = /^# yaml-language-server: \$schema=(.+)$/.exec(firstLine);
    expect(match).not.toBeNull();
    expect(resolve(dirname(file), match![1]!)).toBe(resolve(pipelinesDir, "../schemas/pipeline.schema.json"));
  });

  it("the default is the small embedded setting", async () => {
    const config = await load(join(pipelinesDir, "default.yaml"));
    expect(config.sampler).toMatchObject({ groupSize: 8, promptsPerEpoch: 4, steps: 10, window: { start: 2, size: 3 } });
    expect(config.world.imageSize).toBe(32);
    expect(config.learner.lr).toBe(1e-4);
  });

  it("a preset named in extends inherits through its own extends", async () => {
    const config = await load(join(pipelinesDir, "presets/style-2.yaml"));
    expect(config.world.referenceStyle).toBe("striped");
    expect(config.run.name).toBe("adv-grpo-style-2");
    expect(config.learner.lr).toBe(1e-4); // from default.yaml
  });
});

describe("defaults", () => {
  it("an explicitly empty mapping resolves to the complete default configuration (docs/algorithm.md §10)", async () => {
    const config = await load(join(writeFiles({ "empty.yaml": "{}\n" }), "empty.yaml"));
    expect(config.learner).toEqual({
      objective: "grpo",
      guidance: "as-sampled",
      ratioNormalisation: "none",
      nft: { beta: 1, timesteps: 9 },
      awm: { timesteps: 6, timestepFraction: 0.9, weighting: "ghuber", ghuberPower: 0.25 },
      lr: 3e-4,
      betas: [0.9, 0.999],
      weightDecay: 1e-4,
      epsilon: 1e-8,
      clipRange: 1e-5,
      advantageClip: 5,
      advantageStd: "global",
      advantageEpsilon: 1e-4,
      klBeta: 0,
      gradClip: 1,
      maxPolicyLag: 0,
      stepsPerEpoch: 2,
      ema: { enabled: true, maxDecay: 0.9, every: 8 },
    });
    expect(config.discriminator).toMatchObject({ hiddenWidth: 512, lr: 1e-4, betas: [0.5, 0.999], patches: 64, dTimes: 10 });
    expect(config.discriminator.lossWeights).toEqual({ global: 1, local: 0.3 });
    expect(config.discriminator.rewardWeights).toEqual({ cls: 0.7, patches: 0.3 });
    expect(config.rewards).toEqual([{ kind: "adversarial-dino", weight: 1 }]);
  });

  it("the noise level defaults by sampler kind, and an explicit one wins", async () => {
    const dir = writeFiles({ "cps.yaml": "sampler: { kind: cps }", "sde.yaml": "sampler: { kind: sde }", "set.yaml": "sampler: { kind: sde, noiseLevel: 0.3 }" });
    expect((await load(join(dir, "cps.yaml"))).sampler.noiseLevel).toBe(0.8);
    expect((await load(join(dir, "sde.yaml"))).sampler.noiseLevel).toBe(0.7);
    expect((await load(join(dir, "set.yaml"))).sampler.noiseLevel).toBe(0.3);
  });

  it("fills defaults inside a list item", async () => {
    const config = await load(join(writeFiles({ "ocr.yaml": "rewards:\n  - kind: ocr\n    weight: 2\n" }), "ocr.yaml"));
    expect(config.rewards).toEqual([{ kind: "ocr", weight: 2, lambda: 0.5 }]);
  });
});

describe("extends", () => {
  it("merges objects key by key, replaces arrays, and null resets to the default", async () => {
    const dir = writeFiles({
      "parent.yaml": [
        "learner: { lr: 1.0e-5, lora: { rank: 4 } }",
        "rewards: [{ kind: adversarial-dino }, { kind: dino-similarity, weight: 0.5 }]",
        "sampler: { groupSize: 4 }",
      ].join("\n"),
      "child.yaml": ["extends: parent.yaml", "learner: { gradClip: 0.5, lora: null }", "rewards: [{ kind: ocr }]"].join("\n"),
    });
    const config = await load(join(dir, "child.yaml"));
    expect(config.learner.lr).toBe(1e-5);
    expect(config.learner.gradClip).toBe(0.5);
    expect(config.learner.lora).toBeUndefined();
    expect(config.rewards).toEqual([{ kind: "ocr", weight: 1, lambda: 0.5 }]);
    expect(config.sampler.groupSize).toBe(4);
  });

  it("a relative path is resolved from the extending file's folder", async () => {
    const dir = writeFiles({ "base.yaml": "run: { seed: 7 }" });
    const nested = join(dir, "nested");
    mkdirSync(nested);
    writeFileSync(join(nested, "child.yaml"), "extends: ../base.yaml\n");
    expect((await load(join(nested, "child.yaml"))).run.seed).toBe(7);
  });
});
