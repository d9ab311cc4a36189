/** How the CLI reports bad input: one line naming the field and file, a tag only where it tells something, no stack trace. */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const node = (...args: string[]) => spawnSync(join(process.cwd(), "node_modules/.bin/node"), args, { encoding: "utf8" });
const cli = (...args: string[]) => node("src/cli/main.ts", ...args);

const pipelineWith = (dir: string, text: string) => {
  const file = join(dir, "p.yaml");
  writeFileSync(file, [`extends: ${join(process.cwd(), "pipelines/default.yaml")}`, `run: { outputDir: ${join(dir, "runs")} }`, text].join("\n"));
  return file;
};

describe("advgrpo errors", () => {
  it("a missing prompt file fails the run naming the field and the file, with the error's tag and no stack", () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-cli-errors-"));
    const result = cli("run", pipelineWith(dir, `prompts: { train: ${join(dir, "nope.txt")} }\nreferences: { source: ${dir} }`));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`advgrpo run: MissingConfiguredFiles: files the pipeline names do not exist (relative paths are read from ${process.cwd()}):\n  prompts.train: ${join(dir, "nope.txt")}\n`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("a run folder that already holds a run is refused naming the folder, with the RunFolderError tag", () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-cli-errors-"));
    const folder = join(dir, "runs", "default");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "rollouts.arrows"), "");
    const result = cli("run", pipelineWith(dir, ""));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`advgrpo run: RunFolderError: ${folder}: already holds a run; resume it with --resume`);
  });

  it("a file that is not ONNX fails naming the field, with the import error's tag", () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-cli-errors-"));
    writeFileSync(join(dir, "bad.onnx"), "not onnx at all");
    const result = cli("run", pipelineWith(dir, `features: { backbone: ${join(dir, "bad.onnx")} }`));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^advgrpo run: OnnxImportError: cannot import ONNX model '.*bad\.onnx \(features\.backbone\)': not a valid ONNX protobuf/m);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("eval --weights: a missing, unreadable or empty weights file, or one for an ONNX generator, is named as --weights", () => {
    const dir = mkdtempSync(join(tmpdir(), "advgrpo-cli-errors-"));
    const pipeline = pipelineWith(dir, "");
    const missing = cli("eval", pipeline, "--weights", join(dir, "nope.safetensors"));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`\n  --weights: ${join(dir, "nope.safetensors")}\n`);
    writeFileSync(join(dir, "cut.safetensors"), "\x10\x00\x00\x00\x00\x00\x00\x00{");
    const cut = cli("eval", pipeline, "--weights", join(dir, "cut.safetensors"));
    expect(cut.stderr).toMatch(new RegExp(`^advgrpo eval: ConfiguredFileError: --weights: ${join(dir, "cut.safetensors").replaceAll(".", "\\.")}: `, "m"));
    expect(cli("eval", pipeline, "--weights", "").stderr).toMatch(/^advgrpo eval: UsageError: --weights: expected a \.safetensors file, got ''$/m);
    const onnx = cli("eval", "pipelines/presets/sd3-architecture-tiny.yaml", "--weights", join(dir, "cut.safetensors"));
    expect(onnx.stderr).toMatch(/^advgrpo eval: UsageError: --weights: .* has generator\.kind onnx; only the embedded generator starts from a weights file$/m);
    for (const result of [missing, cut]) expect(result.stderr).not.toContain("generator.checkpoint");
  });

  it("the maintainer scripts answer --help with their usage, and a bad flag or value with the reason and the usage, no stack", () => {
    for (const script of ["src/pretrain/main.ts", "src/pretrain-backbone/main.ts", "src/pretrain/evaluate-main.ts", "src/eval/train-style-classifier.ts"]) {
      const help = node(script, "--help");
      expect([script, help.status, help.stdout.startsWith(`usage: node ${script} `)]).toEqual([script, 0, true]);
      const bad = node(script, "--bogus");
      expect([script, bad.status]).toEqual([script, 2]);
      expect(bad.stderr).toMatch(new RegExp(`^Unknown option '--bogus'[\\s\\S]*\\nusage: node ${script.replaceAll(".", "\\.")} `));
    }
    const method = node("src/pretrain/evaluate-main.ts", "--method", "euler");
    expect([method.status, method.stderr.split("\n")[0]]).toEqual([2, "--method: expected one of ode, sde, cps, got euler"]);
    const seeds = node("src/pretrain/evaluate-main.ts", "--seeds", "0");
    expect([seeds.status, seeds.stderr.split("\n")[0]]).toEqual([2, "--seeds: expected an integer >= 1, got '0'"]);
    expect(node("src/pretrain/main.ts", "--steps", "3").stderr).toMatch(/^--out: missing\nusage: /);
  });
});
