import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { numberFlag, parseCommandArgs, UsageError } from "../../src/cli/args.ts";

const USAGE = "usage: advgrpo eval <pipeline.yaml> [--weights generator.safetensors]";
const options = { weights: { type: "string" } } as const;

describe("command-line arguments", () => {
  it("reads the target and the flags in any order", () => {
    expect(parseCommandArgs(["--weights", "g.safetensors", "p.yaml"], USAGE, options)).toEqual({ values: { weights: "g.safetensors" }, target: "p.yaml" });
    expect(parseCommandArgs(["p.yaml"], USAGE, options)).toEqual({ values: {}, target: "p.yaml" });
  });

  it("refuses a flag without its value, an unknown flag, a missing or an extra argument, with the usage line", () => {
    const refused = (args: string[]) => {
      try {
        parseCommandArgs(args, USAGE, options);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error(`accepted ${args.join(" ")}`);
    };
    // A trailing --weights used to evaluate the base model silently.
    expect(refused(["p.yaml", "--weights"])).toMatch(/--weights.*argument missing[\s\S]*\nusage: advgrpo eval/);
    expect(refused(["p.yaml", "--weight", "g"])).toMatch(/Unknown option '--weight'/);
    expect(refused([])).toMatch(/^missing argument\nusage:/);
    expect(refused(["p.yaml", "q.yaml"])).toMatch(/^unexpected argument 'q.yaml'\nusage:/);
  });

  it("numbers: integers, bounds and garbage", () => {
    const n = (text: string | undefined, integer: boolean) => numberFlag("epoch", text, USAGE, { integer, min: 0 });
    expect(n(undefined, true)).toBeUndefined();
    expect(n("3", true)).toBe(3);
    expect(n("0.5", false)).toBe(0.5);
    for (const bad of ["1.5", "-1", "", "x"]) expect(() => n(bad, true)).toThrow(/--epoch: expected an integer >= 0/);
  });

  it("the CLI fails with the usage line on bad arguments", () => {
    const result = spawnSync(join(process.cwd(), "node_modules/.bin/node"), ["src/cli/main.ts", "eval", "pipelines/default.yaml", "--weights"], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/advgrpo eval: UsageError: .*--weights[\s\S]*usage: advgrpo eval <pipeline.yaml>/);
  });
});
