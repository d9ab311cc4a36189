/** Comments and pipeline docs cite `docs/algorithm.md §N`: every cited section must exist. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe("docs/algorithm.md citations", () => {
  it("name sections the document has", () => {
    const sections = new Set([...readFileSync("docs/algorithm.md", "utf8").matchAll(/^## §(\d+) /gm)].map((m) => m[1]));
    const files = execFileSync("git", ["ls-files", "src", "test", "pipelines", "schemas", "README.md"], { encoding: "utf8" }).split("\n").filter((f) => f !== "" && f !== "test/docs-references.test.ts");
    const cited: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/algorithm\.md`?((?:,? ?(?:and )?§\d+)*)/g)) {
        if (m[1] === "") cited.push(`${file}: cites algorithm.md without a section`);
        for (const n of m[1]!.matchAll(/§(\d+)/g)) cited.push(sections.has(n[1]) ? "" : `${file}: §${n[1]} does not exist`);
      }
    }
    expect(sections.size).toBeGreaterThanOrEqual(10);
    expect(cited.filter(Boolean)).toEqual([]);
    expect(cited.length).toBeGreaterThanOrEqual(19);
  });
});
