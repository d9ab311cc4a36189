/** Issue 12 class 4: every configured file and field is used or refused at load time. */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { saveTrainingState } from "../../src/io/training-state.ts";
import { featureLayout } from "../../src/models/backbone/features.ts";
import { decodePipelineConfig, loadPipelineFile, pipelineJsonSchema } from "../../src/pipeline/config/index.ts";
import { loadReferences } from "../../src/pipeline/references.ts";
import { buildRewardModel, loadBackbone } from "../../src/pipeline/reward-model.ts";
import { trainingPrompts } from "../../src/pipeline/prompts.ts";
import { headsTrainedIn } from "../../src/pipeline/state.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { makeRng } from "../../src/util/prng.ts";
import { writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const rewardModelFor = async (dir: string, rewards: string) => {
  const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 1, `rewards: ${rewards}`)));
  const features = await loadBackbone(config, defaultExecution);
  const references = await loadReferences(config, trainingPrompts(config), features, config.world.imageSize);
  return { config, model: await buildRewardModel(config, features, featureLayout(features.config, features.config.dim!), references, defaultExecution) };
};

describe("rewards[].checkpoint of a frozen discriminator", () => {
  it("is the head that scores, and it is never trained", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-frozen-"));
    const trained = await rewardModelFor(dir, "[{ kind: adversarial-dino }]");
    const rng = makeRng(3);
    const head = trained.model.discriminator.params.map((p) => ({ ...p, data: p.data.map(() => rng.normal()) }));
    await trained.model.release();
    const file = join(dir, "head.safetensors");
    await saveTrainingState(file, { weights: { discriminator: head }, optimizers: {}, metadata: {} });

    const { config, model } = await rewardModelFor(dir, `[{ kind: adversarial-dino }, { kind: frozen-discriminator, checkpoint: ${file} }]`);
    try {
      expect(model.frozen!.params.map((p) => Array.from(p.data))).toEqual(head.map((p) => Array.from(p.data)));
      expect(headsTrainedIn({ ...config, discriminator: { ...config.discriminator, warmupEpochs: 5 } }, model, 0)).toEqual([model.discriminator]);
    } finally {
      await model.release();
    }
  });

  it("a missing file fails naming the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-frozen-"));
    await expect(rewardModelFor(dir, `[{ kind: frozen-discriminator, checkpoint: ${join(dir, "nope.safetensors")} }]`)).rejects.toThrow(/rewards\[0\]\.checkpoint: .*nope\.safetensors does not exist/);
  });
});

describe("fields nothing reads are refused", () => {
  it("every field of the schema is read by name somewhere outside the config loader", () => {
    type Node = { properties?: Record<string, Node>; items?: Node | Node[]; anyOf?: Node[] };
    const keys = new Set<string>();
    const visit = (node: Node): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        keys.add(key);
        visit(child);
      }
      for (const variant of node.anyOf ?? []) visit(variant);
      for (const item of node.items === undefined ? [] : Array.isArray(node.items) ? node.items : [node.items]) visit(item);
    };
    visit(pipelineJsonSchema() as Node);
    const root = join(import.meta.dirname, "../../src");
    const code = readdirSync(root, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") && !f.startsWith(join("pipeline", "config")))
      .map((f) => readFileSync(join(root, f), "utf8"))
      .join("\n");
    // Read = accessed as a property (`config.sampler.groupSize`, `s.groupSize`); `extends` is the loader's own.
    // Keys are matched by name, so a new field with a name of its own that nothing reads fails here.
    const unread = [...keys].filter((key) => key !== "extends" && !new RegExp(`\\.${key}\\b`).test(code));
    expect(unread).toEqual([]);
  });

  it("compute.workers (sessions run in one worker thread) is an unknown key", async () => {
    const error = await Effect.runPromise(Effect.flip(decodePipelineConfig({ compute: { workers: 4 } }, "p.yaml")));
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toMatchObject({ path: "compute.workers" });
  });

  it("learner.stepsPerEpoch above the epoch's groups is refused: steps take whole groups", async () => {
    const error = await Effect.runPromise(Effect.flip(decodePipelineConfig({ sampler: { promptsPerEpoch: 4, groupSize: 4 }, learner: { stepsPerEpoch: 5 } }, "p.yaml")));
    if (error._tag !== "PipelineInvariantError") throw error;
    expect(error.violations[0]).toMatchObject({ path: "learner.stepsPerEpoch" });
    expect(error.violations[0]!.fix).toContain("at most 4");
  });

  it("learner.microBatch must divide the group and is bounded", async () => {
    const error = await Effect.runPromise(Effect.flip(decodePipelineConfig({ sampler: { groupSize: 6 }, learner: { microBatch: 4 } }, "p.yaml")));
    if (error._tag !== "PipelineInvariantError") throw error;
    expect(error.violations[0]).toMatchObject({ path: "learner.microBatch" });
    expect(error.violations[0]!.fix).toContain("(1, 2, 3, 6)");
    const bound = await Effect.runPromise(Effect.flip(decodePipelineConfig({ learner: { microBatch: 2048 } }, "p.yaml")));
    if (bound._tag !== "PipelineFieldError") throw bound;
    expect(bound.issues[0]).toMatchObject({ path: "learner.microBatch" });
    const ok = await Effect.runPromise(decodePipelineConfig({ sampler: { groupSize: 6 }, learner: { microBatch: 3 } }, "p.yaml"));
    expect(ok.learner.microBatch).toBe(3);
  });
});

describe("missing files name the pipeline field", () => {
  it("every missing file is listed with its field before any model is built", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-missing-"));
    const base = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, join(dir, "no-generator.safetensors"), 1)));
    const config = { ...base, features: { ...base.features, backbone: join(dir, "no-backbone.onnx") }, references: { ...base.references, source: join(dir, "no-refs") } };
    const { runTraining } = await import("../../src/pipeline/train.ts");
    const { runFolderOf } = await import("../../src/pipeline/run-folder.ts");
    const error = await runTraining(config, runFolderOf(config), { resume: false, progress: () => {}, stopRequested: () => false }).then(() => undefined, (e: Error) => e);
    expect(error?.message).toContain(`generator.checkpoint: ${join(dir, "no-generator.safetensors")}`);
    expect(error?.message).toContain(`features.backbone: ${join(dir, "no-backbone.onnx")}`);
    expect(error?.message).toContain(`references.source: ${join(dir, "no-refs")}`);
  });
});
