import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, toParamSet } from "../../src/io/safetensors.ts";
import { loadDefaultBackbone } from "../../src/models/backbone/default.ts";
import { ridgeProbeAccuracy } from "../../src/models/backbone/probe.ts";
import { DEFAULT_VIT, vitBackbone } from "../../src/models/backbone/vit.ts";
import { compileForward } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { promptsOf, type PromptSplit } from "../../src/world/prompt.ts";
import { render } from "../../src/world/render.ts";

/** The backbone's weights as pretraining wrote them; the ONNX file the product loads embeds the same. */
const DEFAULT_BACKBONE_WEIGHTS = fileURLToPath(new URL("../../weights/backbone/backbone.safetensors", import.meta.url));

describe("the committed default backbone", () => {
  it("loads through the DINOv2 feature path: 1 CLS + 64 patches of width 64", async () => {
    const extractor = await loadDefaultBackbone();
    const rng = makeRng(1);
    const f = await extractor.extract(promptsOf("train").slice(0, 3).map((p) => render(p, "base", rng.fork(p.colour))));
    expect([f.batch, f.patchCount, f.dim]).toEqual([3, 64, 64]);
    await extractor.release();
  });

  it("ships safetensors weights that match the backbone's parameters", () => {
    const weights = toParamSet(decodeSafetensors(readFileSync(DEFAULT_BACKBONE_WEIGHTS), DEFAULT_BACKBONE_WEIGHTS), DEFAULT_BACKBONE_WEIGHTS);
    const specs = compileForward("spec", vitBackbone(DEFAULT_VIT, 1)).params;
    expect(weights.map((w) => `${w.name}:${w.shape}`).sort()).toEqual(specs.map((s) => `${s.name}:${s.shape}`).sort());
  });

  it("separates base from reference style linearly on held-out prompts", async () => {
    const extractor = await loadDefaultBackbone();
    const sample = async (split: PromptSplit, seed: number) => {
      const rng = makeRng(seed);
      const prompts = promptsOf(split);
      const labels = Array.from({ length: 96 }, (_, i) => i % 2);
      const images = labels.map((l, i) => render(prompts[rng.int(prompts.length)]!, l === 0 ? "base" : i % 4 === 1 ? "shaded" : "striped", rng.fork(i)));
      const f = await extractor.extract(images);
      return { features: f.pooled, width: f.pooledDim, labels };
    };
    expect(ridgeProbeAccuracy(await sample("train", 3), await sample("heldout", 4), 2)).toBeGreaterThan(0.85);
    await extractor.release();
  });
});
