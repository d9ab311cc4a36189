import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Graph, type Tensor } from "../../src/graph/graph.ts";
import { add, mul, reduceMean, reshape } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { GeneratorContractError, loadGeneratorModel } from "../../src/models/generator/contract.ts";
import { f32 } from "../../src/runtime/tensors.ts";

interface FixtureSpec {
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  /** Output name and the input its value is built from. */
  readonly output: string;
  readonly outputShape?: readonly number[];
}

/**
 * An SD3-style stand-in the project builds itself: velocity = latents * time + mean(every other input), so each
 * input is read and the time scaling is observable.
 */
const fixture = (spec: FixtureSpec): string => {
  const g = new Graph("fixture-generator");
  const inputs = Object.fromEntries(Object.entries(spec.inputs).map(([name, shape]) => [name, g.input(name, "float32", shape)]));
  const [first, second, ...rest] = Object.values(inputs) as Tensor[];
  const batch = first!.shape[0]!;
  let v = mul(first!, reshape(second!, [batch, ...first!.shape.slice(1).map(() => 1)]));
  for (const extra of rest) v = add(v, reduceMean(extra));
  if (spec.outputShape) v = reshape(v, spec.outputShape);
  g.output(v, spec.output);
  const file = join(mkdtempSync(join(tmpdir(), "generator-contract-")), "model.onnx");
  writeFileSync(file, toOnnx(g));
  return file;
};

const loadExternalGenerator = (file: string) => loadGeneratorModel(readFileSync(file), file);

const loadError = async (file: string): Promise<GeneratorContractError> => {
  const error = await loadExternalGenerator(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GeneratorContractError);
  return error as GeneratorContractError;
};

describe("external generator contract", () => {
  it("loads an SD3-style model (timestep, text_embeds, pooled_embeds) and feeds it timestep = sigma * 1000", async () => {
    const file = fixture({
      inputs: { latents: [2, 3, 4, 4], timestep: [2], text_embeds: [2, 5, 6], pooled_embeds: [2, 6] },
      output: "velocity",
    });
    const model = await loadExternalGenerator(file);
    expect(model.signature).toEqual({ batch: 2, latentShape: [3, 4, 4], time: "timestep", textEmbeds: [5, 6], pooledWidth: 6 });
    const latents = f32([2, 3, 4, 4], Float32Array.from({ length: 96 }, (_, i) => (i % 7) - 3));
    const v = await model.velocity(latents, Float32Array.from([0.5, 0.25]), {
      tokens: f32([2, 5, 6], new Float32Array(60)),
      pooled: f32([2, 6], new Float32Array(12)),
    });
    expect(v[1]).toBeCloseTo((latents.data[1] as number) * 500);
    expect(v[48 + 1]).toBeCloseTo((latents.data[48 + 1] as number) * 250);
    await model.release();
  });

  it("fails at load with expected vs found names and shapes when the names differ", async () => {
    const file = fixture({ inputs: { sample: [2, 3, 4, 4], t: [2], encoder_hidden_states: [2, 5, 6] }, output: "out_sample" });
    const error = await loadError(file);
    expect(error.problems.map((p) => p.tensor)).toEqual([
      "latents",
      "sigma",
      "text_embeds / pooled_embeds",
      "sample",
      "t",
      "encoder_hidden_states",
      "velocity",
    ]);
    expect(error.message).toContain(`${file}: not a usable generator (7 problems)`);
    expect(error.message).toContain("latents: expected float32 [B, C, H, W], found no such tensor");
    expect(error.message).toContain("expected inputs:  latents float32 [B, C, H, W]; sigma float32 [B]");
    expect(error.message).toContain("found inputs:     sample float32 [2, 3, 4, 4]; t float32 [2]; encoder_hidden_states float32 [2, 5, 6]");
    expect(error.message).toContain("found outputs:    out_sample float32 [2, 3, 4, 4]");
  });

  it("fails when the names are right but the shapes are not", async () => {
    const file = fixture({ inputs: { latents: [2, 3, 4, 4], sigma: [2], pooled_embeds: [3, 6] }, output: "velocity", outputShape: [2, 3, 2, 8] });
    const error = await loadError(file);
    expect(error.problems).toEqual([
      { tensor: "velocity", expected: "the shape of latents [2, 3, 4, 4]", found: "[2, 3, 2, 8]" },
      { tensor: "batch dimension", expected: "the same size on every input", found: "latents 2, sigma 2, pooled_embeds 3" },
    ]);
  });

  it("fails on a wrong rank and on both sigma and timestep", async () => {
    const file = fixture({ inputs: { latents: [2, 48], sigma: [2], timestep: [2], pooled_embeds: [2, 6] }, output: "velocity", outputShape: [2, 3, 4, 4] });
    const error = await loadError(file);
    expect(error.problems.map((p) => `${p.tensor}: ${p.found}`)).toEqual(["latents: float32 [2, 48]", "sigma / timestep: both"]);
  });
});
