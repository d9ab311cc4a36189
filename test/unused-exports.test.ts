import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { unusedExports } from "./unused-exports.ts";

const tree = (files: Record<string, string>): string => {
  const root = mkdtempSync(join(tmpdir(), "unused-exports-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
};

describe("unused exports", () => {
  it("lists exports that only tests use, unless the module's own code uses them too, and dead ones", () => {
    const root = tree({
      "src/a.ts": [
        "export const used = 1;",
        "export const helper = (x: number) => x + 1;",
        "export const entry = () => helper(2);",
        "export const testOnly = 3;",
        "export interface Dead { readonly x: number }",
        '// "testOnly" in a comment and in a string is no use',
        'export const label = "testOnly";',
      ].join("\n"),
      "src/b.ts": 'import { entry, label, used } from "./a.ts";\nexport const b = [used, entry, label];\n',
      "src/index.ts": 'export { b } from "./b.ts";\n',
      "test/a.test.ts": 'import { helper, testOnly } from "../src/a.ts";\n',
    });
    expect(unusedExports(root)).toEqual(["src/a.ts: Dead", "src/a.ts: testOnly"]);
  });

  it("finds none in src/: every exported symbol has a product use", () => {
    expect(unusedExports()).toEqual([]);
  });
});
