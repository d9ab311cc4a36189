/** Issue 12 class 6: nothing a pipeline or manifest names may reach outside the folder it belongs to. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { decodePipelineConfig } from "../../src/pipeline/config/index.ts";
import { loadReferenceSet } from "../../src/io/reference-set.ts";
import { encodePng } from "../../src/io/png.ts";

describe("run.name stays inside run.outputDir", () => {
  it.each(["..", ".", "../elsewhere", "a/b", "/etc", "a\\b", "nul\0byte"])("%j is refused naming run.name", async (name) => {
    const error = await Effect.runPromise(Effect.flip(decodePipelineConfig({ run: { name } }, "p.yaml")));
    if (error._tag !== "PipelineFieldError") throw error;
    expect(error.issues[0]).toMatchObject({ path: "run.name" });
    expect(error.issues[0]!.expected).toContain("inside run.outputDir");
  });

  it.each(["adv-grpo", "run.v2", "..hidden-but-fine", "x..y"])("%j is a valid name", async (name) => {
    const config = await Effect.runPromise(decodePipelineConfig({ run: { name } }, "p.yaml"));
    expect(config.run.name).toBe(name);
  });
});

describe("reference manifest entries stay inside the set's folder", () => {
  const setWith = (entry: string) => {
    const root = mkdtempSync(join(tmpdir(), "advgrpo-escape-"));
    const png = encodePng({ data: new Float32Array(3 * 2 * 2).fill(0.5), height: 2, width: 2 });
    writeFileSync(join(root, "outside.png"), png);
    const folder = join(root, "set");
    mkdirSync(join(folder, "sub"), { recursive: true });
    writeFileSync(join(folder, "sub", "inside.png"), png);
    writeFileSync(join(folder, "manifest.json"), JSON.stringify({ "a red circle": [entry] }));
    return { folder, root };
  };

  it.each(["../outside.png", "../../../../../../etc/passwd", "sub/../../outside.png"])("%j is refused, naming the manifest and the entry", async (entry) => {
    const { folder } = setWith(entry);
    const error = await Effect.runPromise(Effect.flip(loadReferenceSet(folder)));
    expect(error.file).toBe(join(folder, "manifest.json"));
    expect(error.field).toBe('["a red circle"][0]');
    expect(error.message).toContain("outside the set's folder");
  });

  it("an absolute path is refused too", async () => {
    const { folder, root } = setWith("x");
    writeFileSync(join(folder, "manifest.json"), JSON.stringify({ "a red circle": [join(root, "outside.png")] }));
    const error = await Effect.runPromise(Effect.flip(loadReferenceSet(folder)));
    expect(error.message).toContain("outside the set's folder");
  });

  it("a path into a subfolder is read", async () => {
    const { folder } = setWith("sub/inside.png");
    const set = await Effect.runPromise(loadReferenceSet(folder));
    expect(set.images.get("a red circle")).toHaveLength(1);
  });
});
