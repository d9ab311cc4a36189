/**
 * No module of src/ imports itself through others, type-only imports included: a circle makes the load
 * order matter and leaves no layer below the other (graph.ts and its op definitions once formed one).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve("src");

const importCycles = (): string[] => {
  const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
  const imports = new Map(
    files.map((f) => [f, [...readFileSync(f, "utf8").matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/g)].map((m) => resolve(dirname(f), m[1]!))]),
  );
  const visiting = new Set<string>();
  const done = new Set<string>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    visiting.add(file);
    for (const next of imports.get(file) ?? []) {
      if (visiting.has(next)) cycles.push([...path.slice(path.indexOf(next)), file, next].map((f) => relative(SRC, f)).join(" -> "));
      else if (!done.has(next)) visit(next, [...path, file]);
    }
    visiting.delete(file);
    done.add(file);
  };
  for (const file of files) if (!done.has(file)) visit(file, []);
  return cycles;
};

describe("module graph", () => {
  it("has no import cycles", () => {
    expect(importCycles()).toEqual([]);
  });
});
