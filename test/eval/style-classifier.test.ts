import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RgbImage } from "../../src/io/png.ts";
import { fromParamSet, writeSafetensors } from "../../src/io/safetensors.ts";
import { initParams } from "../../src/nn/params.ts";
import { adamW } from "../../src/optim/adam.ts";
import { totalCount } from "../../src/optim/param-set.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { compileTrainStep, runTrainStep } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";
import { DEGRADATIONS } from "../../src/world/degrade.ts";
import { promptsOf } from "../../src/world/prompt.ts";
import { render } from "../../src/world/render.ts";
import {
  loadStyleClassifier,
  saveStyleClassifier,
  StyleClassifier,
  StyleClassifierInputError,
  StyleClassifierWeightsError,
} from "../../src/eval/style-classifier.ts";
import { EVALUATION_SOURCES, labelOf, makeExample, type ExampleSource } from "../../src/eval/style-data.ts";
import { evaluateOnSources, trainStyleClassifier } from "../../src/eval/style-training.ts";
import { STYLE_CLASSIFIER } from "../../src/pipeline/evaluation.ts";
import { defaultStyleNetConfig, STYLE_CLASSES, styleNetTraining, type StyleNetConfig } from "../../src/eval/style-net.ts";

const tiny: StyleNetConfig = { size: 16, channels: [4, 8] };
const directory = await mkdtemp(join(tmpdir(), "style-classifier-"));
afterAll(() => rm(directory, { recursive: true, force: true }));

const heldOut = promptsOf("heldout");

describe("style net", () => {
  it("stays small: the default net has fewer than 100k parameters", () => {
    const graph = compileTrainStep("count", styleNetTraining(defaultStyleNetConfig, 1));
    expect(totalCount(initParams(graph.params, 0))).toBeLessThan(100_000);
  });

  it("a tiny config learns to tell shaded renders from base renders (loss falls)", async () => {
    const batch = 8;
    const rng = makeRng(3);
    const styles = ["shaded", "base"] as const;
    const images = Array.from({ length: batch }, (_, i) => render(heldOut[i]!, styles[i % 2]!, rng, { size: 16 }));
    const labels = new Float32Array(batch * STYLE_CLASSES.length);
    images.forEach((_, i) => (labels[i * STYLE_CLASSES.length + STYLE_CLASSES.indexOf(i % 2 === 0 ? "shaded" : "other")] = 1));
    const pixels = new Float32Array(batch * 3 * 16 * 16);
    images.forEach((image, i) => pixels.set(image.data, i * image.data.length));
    const feeds = { images: { dtype: "float32" as const, shape: [batch, 3, 16, 16], data: pixels }, labels: { dtype: "float32" as const, shape: [batch, 3], data: labels } };

    const graph = compileTrainStep("tiny-style", styleNetTraining(tiny, batch));
    const session = await LocalSession.create(graph.name, graph.bytes);
    const params = initParams(graph.params, 0);
    const optimizer = adamW(params, { lr: 1e-2, weightDecay: 0 });
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const { loss, grads } = await runTrainStep(session, graph, params, feeds);
      optimizer.step(grads);
      losses.push(loss);
    }
    await session.release();
    expect(losses[0]).toBeGreaterThan(0.8);
    expect(losses.at(-1)!).toBeLessThan(0.2 * losses[0]!);

    const classifier = await StyleClassifier.create({ config: tiny, params }, { batch: 3 });
    const verdicts = await classifier.classify(images);
    await classifier.release();
    expect(verdicts.map((v) => v.label)).toEqual(images.map((_, i) => (i % 2 === 0 ? "shaded" : "other")));
  });

  it("saves and loads its weights with the architecture, and classifies the same after the round trip", async () => {
    const params = initParams(compileTrainStep("tiny", styleNetTraining(tiny, 1)).params, 7);
    const file = join(directory, "round-trip.safetensors");
    await saveStyleClassifier(file, { config: tiny, params, metadata: { seed: "7" } });
    const loaded = await loadStyleClassifier(file);
    expect(loaded.config).toEqual(tiny);
    expect(loaded.metadata.seed).toBe("7");
    expect(loaded.params.map((p) => p.name)).toEqual(params.map((p) => p.name));
    loaded.params.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(params[i]!.data)));

    // Five images through batches of two (the last one padded) agree with one batch of five.
    const rng = makeRng(11);
    const images = Array.from({ length: 5 }, (_, i) => render(heldOut[i]!, "striped", rng, { size: 16 }));
    const original = await StyleClassifier.create({ config: tiny, params }, { batch: 5 });
    const reloaded = await StyleClassifier.load(file, { batch: 2 });
    const [a, b] = [await original.classify(images), await reloaded.classify(images)];
    a.forEach((verdict, i) => STYLE_CLASSES.forEach((c) => expect(b[i]!.probabilities[c]).toBeCloseTo(verdict.probabilities[c], 5)));
    a.forEach((verdict) => expect(STYLE_CLASSES.reduce((s, c) => s + verdict.probabilities[c], 0)).toBeCloseTo(1, 5));

    const wrongSize: RgbImage = { data: new Float32Array(3 * 32 * 32), height: 32, width: 32 };
    await expect(reloaded.classify([images[0]!, wrongSize])).rejects.toThrow(StyleClassifierInputError);
    await Promise.all([original.release(), reloaded.release()]);
  });

  it("the training entry point runs end to end and reports one accuracy per kind of image", async () => {
    const lines: string[] = [];
    const trained = await trainStyleClassifier({ seed: 5, steps: 12, batch: 4, lr: 5e-3, poolSize: 16, config: tiny, logEvery: 6, log: (l) => lines.push(l) });
    expect(trained.losses).toHaveLength(12);
    expect(trained.losses.every(Number.isFinite)).toBe(true);
    expect(lines.filter((l) => l.startsWith("step"))).toHaveLength(2);
    const classifier = await StyleClassifier.create(trained, { batch: 4 });
    const rows = await evaluateOnSources(classifier, makeRng(1), 2);
    await classifier.release();
    expect(rows.map((r) => r.expected)).toEqual(EVALUATION_SOURCES.map(labelOf));
    expect(rows.find((r) => r.source === "shaded+blur")?.expected).toBe("other");
    expect(rows.every((r) => r.total === 2 && r.correct >= 0 && r.correct <= 2)).toBe(true);
  });

  it("refuses a weights file without its architecture", async () => {
    const file = join(directory, "bare.safetensors");
    const params = initParams(compileTrainStep("tiny", styleNetTraining(tiny, 1)).params, 0);
    await Effect.runPromise(writeSafetensors(file, { tensors: fromParamSet(params), metadata: {} }));
    await expect(loadStyleClassifier(file)).rejects.toThrow(StyleClassifierWeightsError);
  });
});

// The file the evaluator loads: a checkout without it (or with a broken one) fails here rather than skipping.
describe("the committed style classifier on fresh held-out renders", () => {
  let classifier: StyleClassifier;
  beforeAll(async () => {
    if (!existsSync(STYLE_CLASSIFIER)) throw new Error(`${STYLE_CLASSIFIER} is missing: the held-out style metric needs the committed weights`);
    classifier = await StyleClassifier.load(STYLE_CLASSIFIER);
  });
  afterAll(() => classifier?.release());
  const PER_CLASS = 20;
  const rng = makeRng(20260101);

  const accuracy = async (source: ExampleSource, count: number): Promise<number> => {
    const sourceRng = rng.fork(JSON.stringify(source));
    const examples = Array.from({ length: count }, (_, i) => makeExample(source, heldOut[(i * 7) % heldOut.length]!, sourceRng, 32));
    const verdicts = await classifier.classify(examples.map((e) => e.image));
    return verdicts.filter((v, i) => v.label === examples[i]!.label).length / count;
  };

  for (const style of ["shaded", "striped", "base"] as const) {
    it(`labels >= 95% of ${PER_CLASS} clean ${style} renders correctly`, async () => {
      expect(await accuracy({ kind: "render", style, degradation: null }, PER_CLASS)).toBeGreaterThanOrEqual(0.95);
    });
  }

  it("calls >= 95% of damaged reference renders 'other' (damage never reads as style)", async () => {
    const sources = DEGRADATIONS.flatMap((degradation) => (["shaded", "striped"] as const).map((style): ExampleSource => ({ kind: "render", style, degradation })));
    let rate = 0;
    for (const source of sources) rate += (await accuracy(source, 5)) / sources.length;
    expect(rate).toBeGreaterThanOrEqual(0.95);
  });
});
