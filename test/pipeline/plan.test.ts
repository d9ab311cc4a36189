/** `advgrpo plan`: the SD3 path's files checked against each other and their weights counted, no weight loaded. */
import { copyFileSync, mkdtempSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { loadOnnx } from "../../src/graph/import.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { learnerMemoryLine } from "../../src/pipeline/console-text.ts";
import { planRun } from "../../src/pipeline/plan.ts";
import { buildPolicy } from "../../src/pipeline/policy.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { tinySd3Pipeline, writeTinyGenerator, writeTinyPipeline } from "./fixtures.ts";

const fixture = (name: string) => join(process.cwd(), "test/fixtures/onnx", name);
const planOf = async (extra: string, sharedAbove?: number) => planRun(await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(mkdtempSync(join(tmpdir(), "advgrpo-plan-")), extra))), sharedAbove);

describe("advgrpo plan", () => {
  it("counts each model's weights from the file (equal to the imported values) and checks the files against each other", async () => {
    const lines = await planOf("generator: { onnx: { velocityModel: test/fixtures/onnx/sd3_transformer_external.onnx } }");
    const parameters = [...loadOnnx(fixture("sd3_transformer.onnx")).initializers.values()].reduce((n, c) => n + c.values.length, 0);
    const transformer = lines.find((l) => l.startsWith("transformer:"))!;
    expect(transformer).toContain(`${(parameters / 1e6).toFixed(3)} M parameters`);
    expect(transformer).toContain("in 3 external data file(s), all present and complete; fits latents [16, 8, 8]");
    expect(lines.find((l) => l.startsWith("text:"))).toMatch(/6 prompts embedded \(\[8, 24\] tokens, pooled 20\)/);
    expect(lines.find((l) => l.startsWith("VAE decoder:"))).toContain("takes latents [16, 8, 8]");
    expect(lines.find((l) => l.startsWith("backbone:"))).toContain("pixel_values at 56 px");
  });

  it("builds the learner graph from the external file's shapes alone: the memory line a run prints, weights unread", async () => {
    const external = fixture("sd3_transformer_external.onnx");
    const zeros = loadOnnx(external, { externalWeights: "zeros" });
    const real = loadOnnx(fixture("sd3_transformer.onnx"));
    expect([...zeros.initializers.keys()].sort()).toEqual([...real.initializers.keys()].sort());
    for (const [name, c] of zeros.initializers) expect([name, c.shape, c.values.length]).toEqual([name, real.initializers.get(name)!.shape, real.initializers.get(name)!.values.length]);
    // the 64-byte-and-smaller tensors stay embedded with their values; every external one is zeros
    expect([...zeros.initializers.values()].filter((c) => c.values.length > 16).every((c) => c.values.every((v) => Number(v) === 0))).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), "advgrpo-plan-run-"));
    const config = await Effect.runPromise(loadPipelineFile(tinySd3Pipeline(dir)));
    const policy = await buildPolicy(config, defaultExecution);
    const printedByRun = learnerMemoryLine(policy.learnerMemory, config.sampler.groupSize);
    await policy.release();
    expect((await planOf(`generator: { onnx: { velocityModel: ${external} } }`)).at(-1)).toBe(printedByRun);
  });

  it("counts the host's copies of the generator from compute.shareImportedWeights and says which it assumed", async () => {
    const memory = (lines: readonly string[]) => lines.find((l) => l.startsWith("weights in memory"))!;
    const mib = (line: string, pattern: RegExp) => Number(pattern.exec(line)![1]);
    const held = mib((await planOf("")).find((l) => l.startsWith("transformer:"))!, /held as ([\d.]+) MiB/);
    // past the threshold (lowered to 0 here) the policy graphs go through the shared weight file
    const shared = memory(await planOf("", 0));
    const prepacked = memory(await planOf("compute: { shareImportedWeights: false }", 0));
    expect(shared).toContain("the generator once: ");
    expect(shared).toContain("compute.shareImportedWeights: true");
    expect(prepacked).toContain("the generator 3 times: ");
    expect(prepacked).toContain("each of the three policy sessions prepacks");
    expect(prepacked).toContain("compute.shareImportedWeights: false");
    const host = (line: string) => mib(line, /host ([\d.]+) MiB/);
    expect(host(prepacked) - host(shared)).toBeCloseTo(2 * held, 1);
    expect(mib(shared, /while loading another ([\d.]+) MiB/)).toBeCloseTo(2 * held, 1);
    // the tiny generator is under the threshold: its sessions open from memory whatever the field says
    for (const extra of ["", "compute: { shareImportedWeights: false }"]) {
      const line = memory(await planOf(extra));
      expect(line).toContain("the generator 3 times: ");
      expect(line).toContain("open from memory");
      expect(host(line)).toBeCloseTo(host(prepacked), 2);
    }
  });

  it("fails on a truncated external data file, naming the pipeline field and the file, before anything loads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-plan-external-"));
    for (const f of ["sd3_transformer_external.onnx", ...[0, 1, 2].map((k) => `sd3_transformer_external.onnx.data${k}`)]) copyFileSync(fixture(f), join(dir, f));
    const data = join(dir, "sd3_transformer_external.onnx.data1");
    truncateSync(data, statSync(data).size - 4);
    await expect(planOf(`generator: { onnx: { velocityModel: ${join(dir, "sd3_transformer_external.onnx")} } }`)).rejects.toThrow(
      /^generator\.onnx\.velocityModel: .*initialiser '.+': external data file '.*sd3_transformer_external\.onnx\.data1' has \d+ bytes .*truncated file/,
    );
  });

  it("reads the embedded generator's checkpoint: a truncated one or one of another size fails naming generator.checkpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-plan-embedded-"));
    const file = await writeTinyGenerator(dir);
    const plan = async (pipeline: string) => planRun(await Effect.runPromise(loadPipelineFile(pipeline)));
    expect((await plan(writeTinyPipeline(dir, file, 1))).find((l) => l.startsWith("generator:"))).toMatch(/tiny-generator\.safetensors: [\d.]+ M parameters, samples \[3, \d+, \d+\]/);
    // the fixture writes `generator: { checkpoint: <generator> }`, so the size rides along with the path
    await expect(plan(writeTinyPipeline(dir, `${file}, sampleSize: 64`, 1))).rejects.toThrow(/^generator\.checkpoint: .*tiny-generator\.safetensors: the generator samples 3x\d+x\d+, but generator\.sampleSize/);
    truncateSync(file, statSync(file).size - 100);
    await expect(plan(writeTinyPipeline(dir, file, 1))).rejects.toThrow(/^generator\.checkpoint: .*tiny-generator\.safetensors: /);
    await expect(plan(writeTinyPipeline(dir, file, 1))).rejects.toMatchObject({ _tag: "ConfiguredFileError", field: "generator.checkpoint" });
  });

  it("fails on a transformer that does not fit the pipeline's latents, naming the file", async () => {
    await expect(planOf("generator: { latentChannels: 4 }")).rejects.toThrow(/sd3_transformer\.onnx.*latents.*\[B, 4, 8, 8\]/s);
  });
});
