import { describe, expect, it } from "vitest";
import { BackboneSignatureError, type BackboneConfig, FeatureExtractor, validateBackboneSignature } from "../../src/models/backbone/features.ts";
import { IMAGENET_MEAN, IMAGENET_STD, preprocessGraph } from "../../src/models/backbone/preprocess.ts";
import { ridgeProbeAccuracy } from "../../src/models/backbone/probe.ts";
import { exportVitOnnx, vitBackbone, type VitConfig } from "../../src/models/backbone/vit.ts";
import { Graph } from "../../src/graph/graph.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { initParams } from "../../src/nn/params.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { compileForward, paramFeeds } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

const tiny: VitConfig = { imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, registers: 2, mlpRatio: 2 };
const tinyFeatures: BackboneConfig = { size: 8, patchSize: 4, registers: 2, dim: 8, pooling: "cls" };
const params = initParams(compileForward("spec", vitBackbone(tiny, 1)).params, 5);
const randomImages = (count: number, size: number, seed = 1) => {
  const rng = makeRng(seed);
  return Array.from({ length: count }, () => ({ data: Float32Array.from({ length: 3 * size * size }, () => rng.next()), height: size, width: size }));
};

const expectSignatureError = (run: () => unknown, field: string, found: string) => {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(BackboneSignatureError);
    expect((e as BackboneSignatureError).field).toBe(field);
    expect((e as BackboneSignatureError).message).toContain(found);
    return;
  }
  throw new Error("expected a BackboneSignatureError");
};

describe("DINOv2-compatible features", () => {
  it("splits CLS, registers and patches of the exported backbone, in fixed-batch chunks", async () => {
    const onnx = exportVitOnnx(tiny, params, 2);
    const extractor = await FeatureExtractor.create(onnx, "tiny.onnx", tinyFeatures);
    expect(extractor.fixedBatch).toBe(2);
    const images = randomImages(3, 8);
    const f = await extractor.extract(images);
    expect([f.batch, f.patchCount, f.dim, f.cls.length, f.patches.length]).toEqual([3, 4, 8, 24, 96]);

    // The same backbone with parameters as inputs, on ImageNet-normalised pixels of image 2.
    const graph = compileForward("direct", vitBackbone(tiny, 1));
    const session = await LocalSession.create("direct", graph.bytes);
    const pixels = images[2]!.data.map((v, i) => (v - IMAGENET_MEAN[Math.floor(i / 64)]!) / IMAGENET_STD[Math.floor(i / 64)]!);
    const hidden = (await session.run({ ...paramFeeds(params), pixel_values: f32([1, 3, 8, 8], pixels) })).last_hidden_state!.data as Float32Array;
    const close = (a: Float32Array, b: Float32Array) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 4));
    close(f.cls.subarray(16, 24), hidden.subarray(0, 8));
    close(f.patches.subarray(64, 96), hidden.subarray(3 * 8, 7 * 8)); // tokens 3..6: after CLS and 2 registers
    let norm = 0;
    for (const v of f.pooled.subarray(0, 8)) norm += v * v;
    expect(norm).toBeCloseTo(1, 5);
    await Promise.all([extractor.release(), session.release()]);
  });

  it("pools CLS with the patch mean when asked", async () => {
    const extractor = await FeatureExtractor.create(exportVitOnnx(tiny, params, 1), "tiny.onnx", { ...tinyFeatures, pooling: "cls+mean" });
    const f = await extractor.extract(randomImages(1, 8));
    expect(f.pooledDim).toBe(16);
    await extractor.release();
  });

  it("resizes bicubically and normalises with ImageNet statistics", async () => {
    const session = await LocalSession.create("pre", preprocessGraph(1, 16, 16, 8));
    const grey = new Float32Array(3 * 16 * 16).fill(0.5);
    const out = (await session.run({ images: f32([1, 3, 16, 16], grey) })).pixel_values!;
    expect(out.shape).toEqual([1, 3, 8, 8]);
    // A constant image stays constant under any interpolating resize.
    expect((out.data as Float32Array)[0]).toBeCloseTo((0.5 - 0.485) / 0.229, 4);
    expect((out.data as Float32Array)[3 * 64 - 1]).toBeCloseTo((0.5 - 0.406) / 0.225, 4);
    await session.release();
  });

  it("rejects files without the DINOv2 interface, naming expected and found", () => {
    const onnx = exportVitOnnx(tiny, params, 1);
    expectSignatureError(() => validateBackboneSignature(onnx, "tiny.onnx", { ...tinyFeatures, registers: 0 }), "output 'last_hidden_state' tokens", "found 7");
    expectSignatureError(() => validateBackboneSignature(onnx, "tiny.onnx", { ...tinyFeatures, dim: 768 }), "output 'last_hidden_state' width D", "should be 768, found 8");
    expectSignatureError(() => validateBackboneSignature(onnx, "tiny.onnx", { ...tinyFeatures, size: 12, patchSize: 4 }), "input 'pixel_values' height", "found 8");

    const g = new Graph("other");
    g.output(g.input("image", "float32", [1, 3, 8, 8]), "features");
    expectSignatureError(() => validateBackboneSignature(toOnnx(g), "other.onnx", tinyFeatures), "input", "'image' float32 [1, 3, 8, 8]");
  });

  it("exports the backbone with its weights baked in", async () => {
    const onnx = exportVitOnnx(tiny, params, 1);
    const session = await LocalSession.create("exported", onnx);
    expect(session.signature.inputNames).toEqual(["pixel_values"]);
    const out = await session.run({ pixel_values: f32([1, 3, 8, 8], new Float32Array(192).fill(0.1)) });
    expect(out.last_hidden_state!.shape).toEqual([1, 7, 8]);
    await session.release();
  });
});

describe("ridge probe", () => {
  it("separates linearly separable classes and is at chance on noise labels", () => {
    const rng = makeRng(2);
    const make = (n: number, informative: boolean) => {
      const labels = Array.from({ length: n }, () => rng.int(3));
      const features = new Float32Array(n * 4);
      labels.forEach((l, i) => {
        for (let j = 0; j < 4; j++) features[i * 4 + j] = rng.normal() * 0.2 + (informative && j === l ? 2 : 0);
      });
      return { features, width: 4, labels };
    };
    expect(ridgeProbeAccuracy(make(200, true), make(200, true), 3)).toBeGreaterThan(0.97);
    expect(ridgeProbeAccuracy(make(200, false), make(300, false), 3)).toBeLessThan(0.5);
  });
});
