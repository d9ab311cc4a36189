/** Comments and pipeline docs cite `docs/algorithm.md §N` and pipeline fields: every cited section and field must exist. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { pipelineJsonSchema } from "../src/pipeline/config/index.ts";

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

describe("pipeline fields named in the user's docs", () => {
  it("exist in the schema (a renamed field leaves no stale name behind)", () => {
    type Node = { properties?: Record<string, Node>; items?: Node | Node[]; anyOf?: Node[] };
    const paths = new Set<string>();
    const visit = (path: string, node: Node): void => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const at = path === "" ? key : `${path}.${key}`;
        paths.add(at);
        visit(at, child);
      }
      for (const variant of node.anyOf ?? []) visit(path, variant);
      for (const item of node.items === undefined ? [] : Array.isArray(node.items) ? node.items : [node.items]) visit(`${path}[]`, item);
    };
    const schema = pipelineJsonSchema() as Node;
    visit("", schema);
    // Names in code spans that start like a field but are something else: the run folder's lock file, a replay column.
    const notFields = new Set(["run.lock", "generator.onPolicyRatio"]);
    const field = new RegExp(`(?<=\`)(?:${Object.keys(schema.properties!).join("|")})(?:\\[\\d*\\])?(?:\\.[a-zA-Z]\\w*(?:\\[\\d*\\])?)+(?=[\`:\\s])`, "g");
    const stale: string[] = [];
    let named = 0;
    for (const file of ["README.md", "pipelines/README.md", "schemas/rollout-log.md", "docs/algorithm.md"]) {
      for (const m of readFileSync(file, "utf8").matchAll(field)) {
        const path = m[0].replace(/\[\d*\]/g, "[]");
        named++;
        if (!paths.has(path) && !notFields.has(path)) stale.push(`${file}: ${m[0]}`);
      }
    }
    expect(stale).toEqual([]);
    expect(named).toBeGreaterThanOrEqual(100);
  });
});
