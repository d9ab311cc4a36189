/** Issue 12 class 5: pipeline inputs that size memory or time are bounded, and hostile files fail naming the file. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { loadPipelineFile, pipelineJsonSchema } from "../../src/pipeline/config/index.ts";

const fileWith = (text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), "advgrpo-bounds-")), "pipeline.yaml");
  writeFileSync(file, text);
  return file;
};
const loadError = (file: string) => Effect.runPromise(Effect.flip(loadPipelineFile(file)));

describe("bounded pipeline inputs", () => {
  it.each([
    ["run:\n  epochs: 1000000000\n", "run.epochs", /at most 1000000: run time/],
    ["sampler:\n  groupSize: 100000\n", "sampler.groupSize", /at most 1024 .*held in memory/],
    ["sampler:\n  promptsPerEpoch: 10000000\n", "sampler.promptsPerEpoch", /at most 65536: an epoch's rollouts/],
    ["world:\n  imageSize: 100000\n", "world.imageSize", /at most 1024: image memory/],
    ["generator:\n  sampleSize: 100000\n", "generator.sampleSize", /at most 1024: latent memory/],
    ["record:\n  batchRows: 100000000\n", "record.batchRows", /at most 65536/],
    ["eval:\n  seeds: [" + Array.from({ length: 65 }, (_, i) => i).join(", ") + "]\n", "eval.seeds", /at most 64 seeds/],
  ])("%s is refused at %s with the reason", async (text, path, reason) => {
    const error = await loadError(fileWith(text));
    if (error._tag !== "PipelineFieldError") throw error;
    const issue = error.issues.find((i) => i.path === path);
    expect(issue?.expected).toMatch(reason);
  });

  it("the reason is in the field's documentation too", async () => {
    const schema = pipelineJsonSchema() as { properties: Record<string, { properties: Record<string, { description?: string; maximum?: number }> }> };
    expect(schema.properties.sampler!.properties.promptsPerEpoch).toMatchObject({ maximum: 65536, description: expect.stringMatching(/At most 65536: /) });
  });
});

describe("hostile pipeline files", () => {
  it("an empty file (or only comments) is an error, not a run of defaults", async () => {
    for (const text of ["", "# nothing here\n"]) {
      const file = fileWith(text);
      const error = await loadError(file);
      expect(error._tag).toBe("PipelineFileError");
      expect(error.message).toContain(file);
      expect(error.message).toContain("empty");
    }
  });

  it("an alias bomb fails with a YAML error naming the file", async () => {
    let text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 10; i++) text += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(", ")}]\n`;
    const file = fileWith(text);
    const error = await loadError(file);
    expect(error._tag).toBe("PipelineYamlError");
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/alias/i);
  });

  it.each([
    ["__proto__:\n  epochs: 2\nrun:\n  epochs: 3\n", "__proto__"],
    ["run:\n  __proto__:\n    epochs: 2\n", "run.__proto__"],
    ["extends: ./parent.yaml\nrun:\n  __proto__: {}\n", "run.__proto__"],
  ])("a __proto__ key is an unknown-key error (%#)", async (text, path) => {
    const file = fileWith(text);
    writeFileSync(join(file, "..", "parent.yaml"), "run:\n  epochs: 2\n");
    const error = await loadError(file);
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues.map((i) => i.path)).toContain(path);
  });
});
