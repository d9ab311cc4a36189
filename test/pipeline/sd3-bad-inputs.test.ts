/** Every mismatched file of the SD3 path fails while the run is built, naming file and field, before any sampling. */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { add, reduceMean, reshape } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { buildPolicy } from "../../src/pipeline/policy.ts";
import { loadBackbone } from "../../src/pipeline/reward-model.ts";
import { runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { tinySd3Pipeline } from "./fixtures.ts";

const fixture = (name: string) => join(process.cwd(), "test/fixtures/onnx", name);
const configWith = async (extra: string) => Effect.runPromise(loadPipelineFile(tinySd3Pipeline(mkdtempSync(join(tmpdir(), "advgrpo-sd3-bad-")), extra)));
const buildError = async (extra: string): Promise<string> => {
  const config = await configWith(extra);
  return buildPolicy(config, defaultExecution).then(
    async (policy) => {
      await policy.release();
      throw new Error("expected the build to fail");
    },
    (e: Error) => e.message,
  );
};

/** An ONNX file built with the project's graph builder, for shapes the torch fixtures do not have. */
const onnxFile = (build: (g: Graph) => void): string => {
  const g = new Graph("bad");
  build(g);
  const file = join(mkdtempSync(join(tmpdir(), "bad-onnx-")), "model.onnx");
  writeFileSync(file, toOnnx(g));
  return file;
};

describe("bad inputs to the SD3 path", () => {
  it("a transformer whose output is not the latent shape", async () => {
    const file = onnxFile((g) => {
      const x = g.input("hidden_states", "float32", [8, 16, 8, 8]);
      const t = g.input("timestep", "float32", [8]);
      const text = g.input("encoder_hidden_states", "float32", [8, 8, 24]);
      const pooled = g.input("pooled_projections", "float32", [8, 20]);
      const small = reshape(x, [8, 16, 16, 4]);
      g.output(add(add(add(small, reduceMean(t)), reduceMean(text)), reduceMean(pooled)), "out_hidden_states");
    });
    const message = await buildError(`generator: { onnx: { velocityModel: ${file} } }`);
    expect(message).toContain(file);
    expect(message).toMatch(/velocity: expected the shape of latents \[8, 16, 8, 8\], found \[8, 16, 16, 4\]/);
  });

  it("a VAE decoder whose channels do not match the latents", async () => {
    const file = onnxFile((g) => g.output(reduceMean(g.input("latent_sample", "float32", [4, 4, 8, 8]), [1], true), "sample"));
    const message = await buildError(`generator: { onnx: { vaeDecoder: ${file} } }`);
    expect(message).toMatch(/model\.onnx \(generator\.onnx\.vaeDecoder\): not a usable generator/);
    expect(message).toMatch(/latent_sample channels: expected 16 \(generator\.latentChannels, the transformer's latent channels\), found 4/);
  });

  it("text embeddings whose width does not match the transformer", async () => {
    const source = join(process.cwd(), "test/fixtures/text/sd3_tiny_prompts.safetensors");
    const st = decodeSafetensors(readFileSync(source), source);
    const narrow = st.tensors.map((t) => (t.name.endsWith("prompt_embeds") && !t.name.includes("pooled") ? { ...t, shape: [t.shape[0]!, t.shape[1]! * 2, 12], data: t.data } : t));
    const file = join(mkdtempSync(join(tmpdir(), "bad-emb-")), "prompts.safetensors");
    writeFileSync(file, encodeSafetensors({ tensors: narrow, metadata: st.metadata }));
    const config = await configWith(`generator: { onnx: { textEmbeddings: ${file} } }`);
    const error = await runTraining(config, runFolderOf(config), { progress: () => {}, stopRequested: () => false, resume: false }).then(
      () => "",
      (e: Error) => e.message,
    );
    expect(error).toMatch(/sd3_transformer\.onnx.*: not a usable generator/s);
    expect(error).toMatch(/text_embeds: expected width D = 12, the text encoder's, found D = 24/);
    // a size mismatch past the signature check does not claim the model has no inputs
    expect(error).not.toMatch(/found inputs: +none/);
    expect(existsSync(runFolderOf(config).rollouts)).toBe(false); // nothing was sampled
  });

  it("a LoRA target that matches no node", async () => {
    const message = await buildError("learner: { lora: { targets: [to_q, to_qkv] } }");
    expect(message).toMatch(/sd3_transformer\.onnx.*LoRA target 'to_qkv' match no MatMul\/Gemm weight or node scope \(modules here look like: .*transformer_blocks\.0\.attn\.to_q/s);
  });

  /** A copy of an external-data fixture (`<model>.onnx` + `.data0..n-1`) in a fresh folder, changed by `change`. */
  const externalCopy = (model: string, files: number, change: (dir: string) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), "bad-external-"));
    for (const f of [model, ...Array.from({ length: files }, (_, k) => `${model}.data${k}`)]) copyFileSync(fixture(f), join(dir, f));
    change(dir);
    return join(dir, model);
  };
  const halve = (file: string) => truncateSync(file, Math.floor(statSync(file).size / 2));

  it("a missing or truncated external-data file", async () => {
    const missing = externalCopy("sd3_transformer_external.onnx", 3, (dir) => unlinkSync(join(dir, "sd3_transformer_external.onnx.data1")));
    expect(await buildError(`generator: { onnx: { velocityModel: ${missing} } }`)).toMatch(
      /sd3_transformer_external\.onnx \(generator\.onnx\.velocityModel\)': initialiser '.+': cannot open external data file '.*sd3_transformer_external\.onnx\.data1'/,
    );
    const truncated = externalCopy("sd3_transformer_external.onnx", 3, (dir) => halve(join(dir, "sd3_transformer_external.onnx.data2")));
    expect(await buildError(`generator: { onnx: { velocityModel: ${truncated} } }`)).toMatch(/sd3_transformer_external\.onnx \(generator\.onnx\.velocityModel\)': initialiser '.+'.*data2/);
    const vae = externalCopy("vae_decoder_external.onnx", 1, (dir) => halve(join(dir, "vae_decoder_external.onnx.data0")));
    expect(await buildError(`generator: { onnx: { vaeDecoder: ${vae} } }`)).toMatch(
      /vae_decoder_external\.onnx \(generator\.onnx\.vaeDecoder\)': initialiser '.+': external data file '.*vae_decoder_external\.onnx\.data0' has \d+ bytes but the tensor needs bytes \d+\.\.\d+ \(truncated file\?\)/,
    );
  });

  it("a DINOv2 backbone with a missing or truncated external-data file, before ORT sees it", async () => {
    const backboneError = async (path: string) =>
      loadBackbone(await configWith(`features: { backbone: ${path} }`), defaultExecution).then(
        async (features) => (await features.release(), "loaded"),
        (e: Error) => e.message,
      );
    const missing = externalCopy("dinov2_external.onnx", 2, (dir) => unlinkSync(join(dir, "dinov2_external.onnx.data0")));
    expect(await backboneError(missing)).toMatch(/dinov2_external\.onnx \(features\.backbone\)': initialiser '.+': cannot open external data file '.*dinov2_external\.onnx\.data0' \(ENOENT/);
    const truncated = externalCopy("dinov2_external.onnx", 2, (dir) => halve(join(dir, "dinov2_external.onnx.data1")));
    expect(await backboneError(truncated)).toMatch(/dinov2_external\.onnx \(features\.backbone\)': initialiser '.+': external data file '.*dinov2_external\.onnx\.data1' has \d+ bytes .* \(truncated file\?\)/);
    expect(await backboneError(externalCopy("dinov2_external.onnx", 2, () => {}))).toBe("loaded");
  });
});
