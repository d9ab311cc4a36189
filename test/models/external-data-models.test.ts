/**
 * The DINOv2 backbone and the VAE decoder with their weights in external data files (as exports past 2 GB store
 * them) give bit-identical results to the embedded fixtures; the VAE's decode graph also runs identically when
 * written with external data and loaded from its file (the path a decoder past 2 GB takes).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOnnx } from "../../src/graph/import.ts";
import { FeatureExtractor } from "../../src/models/backbone/features.ts";
import { loadVaeDecoder } from "../../src/models/generator/vae.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { GraphSessions } from "../../src/train/open-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

const fixture = (name: string) => join(process.cwd(), "test/fixtures/onnx", name);

describe("external-data exports of the backbone and the VAE decoder", () => {
  it("the DINOv2 export opens from its path and reads its two data files: features bit-identical to the embedded file", async () => {
    const config = { size: 56, patchSize: 14, registers: 0, pooling: "cls" } as const;
    const rng = makeRng(5);
    const images = Array.from({ length: 3 }, () => ({ data: Float32Array.from({ length: 3 * 40 * 40 }, () => rng.next()), height: 40, width: 40 }));
    const [embedded, external] = await Promise.all([FeatureExtractor.open(fixture("dinov2.onnx"), config), FeatureExtractor.open(fixture("dinov2_external.onnx"), config)]);
    try {
      expect(external.config.dim).toBe(32);
      const [a, b] = [await embedded.extract(images), await external.extract(images)];
      expect(b.cls.some((v) => v !== 0)).toBe(true);
      expect([b.cls, b.patches, b.pooled]).toEqual([a.cls, a.patches, a.pooled]);
    } finally {
      await Promise.all([embedded.release(), external.release()]);
    }
  });

  it("the VAE decoder from external data, and its decode graph loaded from a file, decode bit-identically", async () => {
    const options = { latentShape: [16, 8, 8] as const, scalingFactor: 1.5305, shiftFactor: 0.0609, batch: 2 };
    const rng = makeRng(6);
    const latents = Float32Array.from({ length: 3 * 16 * 8 * 8 }, () => rng.normal());
    const decoders = [
      await loadVaeDecoder(loadOnnx(fixture("vae_decoder.onnx")), options, defaultExecution),
      await loadVaeDecoder(loadOnnx(fixture("vae_decoder_external.onnx")), options, defaultExecution),
      // an embedding limit of 0 bytes sends the decode graph through writeGraph + createFromFile
      await loadVaeDecoder(loadOnnx(fixture("vae_decoder_external.onnx")), options, defaultExecution, new GraphSessions(0)),
    ];
    try {
      const [a, b, c] = await Promise.all(decoders.map((d) => d.decode(latents, 3)));
      expect(a!.map((im) => [im.height, im.width])).toEqual([[32, 32], [32, 32], [32, 32]]);
      expect(new Set(a![0]!.data).size).toBeGreaterThan(100);
      expect(b!.map((im) => im.data)).toEqual(a!.map((im) => im.data));
      expect(c!.map((im) => im.data)).toEqual(a!.map((im) => im.data));
    } finally {
      await Promise.all(decoders.map((d) => d.release()));
    }
  });
});
