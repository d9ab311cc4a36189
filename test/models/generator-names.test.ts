import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { readSignature } from "../../src/graph/import.ts";
import { add, mul, reduceMean, reshape } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { checkNamedGeneratorSignature, GeneratorContractError } from "../../src/models/generator/contract.ts";

/** A velocity stand-in with the given tensor names: out = latents * time + mean(text) + mean(pooled). */
const signatureWith = (names: { latents: string; time: string; text: string; pooled: string; out: string }) => {
  const g = new Graph("names");
  const x = g.input(names.latents, "float32", [2, 4, 8, 8]);
  const t = g.input(names.time, "float32", [2]);
  const text = g.input(names.text, "float32", [2, 5, 6]);
  const pooled = g.input(names.pooled, "float32", [2, 3]);
  g.output(add(add(mul(x, reshape(t, [2, 1, 1, 1])), reduceMean(text)), reduceMean(pooled)), names.out);
  return readSignature(toOnnx(g), "model.onnx");
};

describe("generator tensor names", () => {
  it("reads HF optimum's SD3 export names (the torch-exported fixture)", () => {
    const file = fileURLToPath(new URL("../fixtures/onnx/sd3_transformer.onnx", import.meta.url));
    const { signature, names } = checkNamedGeneratorSignature(readSignature(readFileSync(file), file), file);
    expect(names).toMatchObject({ latents: "hidden_states", timestep: "timestep", text: "encoder_hidden_states", pooled: "pooled_projections", velocity: "out_hidden_states" });
    expect(signature.time).toBe("timestep");
    expect(signature.textEmbeds).toEqual(["sequence_length", 24]);
    expect(signature.pooledWidth).toBe(20);
  });

  it("takes an explicit mapping from the pipeline file", () => {
    const sig = signatureWith({ latents: "x", time: "t", text: "context", pooled: "y", out: "v" });
    const { signature, names } = checkNamedGeneratorSignature(sig, "model.onnx", { latents: "x", timestep: "t", text: "context", pooled: "y", velocity: "v" });
    expect(names.latents).toBe("x");
    expect([signature.time, signature.latentShape, signature.pooledWidth]).toEqual(["timestep", [4, 8, 8], 3]);
  });

  it("a file that fits no convention gets the contract error with its own names", () => {
    const sig = signatureWith({ latents: "x", time: "t", text: "context", pooled: "y", out: "v" });
    let error: unknown;
    try {
      checkNamedGeneratorSignature(sig, "model.onnx");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GeneratorContractError);
    const message = (error as GeneratorContractError).message;
    expect(message).toMatch(/model\.onnx: not a usable generator/);
    expect(message).toMatch(/latents: expected float32 \[B, C, H, W\], found no such tensor/);
    expect(message).toMatch(/found inputs: {5}x float32 \[2, 4, 8, 8\]; t float32 \[2\]; context float32 \[2, 5, 6\]; y float32 \[2, 3\]/);
    expect(message).toMatch(/found outputs: {4}v float32/);
    // a wrong explicit mapping names the mapping it was read with
    expect(() => checkNamedGeneratorSignature(sig, "model.onnx", { latents: "x", sigma: "t", text: "context", pooled: "y", velocity: "out" })).toThrow(/read with explicit names: .*velocity = 'out'/);
  });
});
