/**
 * Exported symbols of src/ that no other product file uses: `node test/unused-exports.ts` prints them, one
 * per line (nothing when every export has a use), and unused-exports.test.ts requires the list to be empty.
 * A use is an import or re-export from another file under src/ (src/index.ts, the package's entry point,
 * counts: what it re-exports is the public API); tests and specs do not count. Namespace imports and
 * `export *` use every export of their module.
 *
 * A lexical scan, not a type checker: it reads `export` declarations and import/export clauses with their
 * module paths, which is all this code base's module syntax uses.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".spec.ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });

const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => join(e.parentPath, e.name)).concat(sourceFiles(SRC).length ? specFiles(SRC) : []);

const specFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name.endsWith(".spec.ts")).map((e) => join(e.parentPath, e.name));

/** Comments and string contents would give false declarations; template literals keep their `${}` code. */
const stripComments = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:\\])\/\/.*$/gm, "$1");

const declared = (text: string): string[] => {
  const names: string[] = [];
  const decl = /^export\s+(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:const|let|var|function\*?|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/gm;
  for (const m of text.matchAll(decl)) names.push(m[1]!);
  // export { a, b as c } without `from`: local names exported under their public names.
  for (const m of text.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}\s*(?!\s*from)[;\n]/gm)) names.push(...clauseNames(m[1]!).map((n) => n.exported));
  return names;
};

interface ClauseName {
  readonly imported: string;
  readonly exported: string;
}

const clauseNames = (clause: string): ClauseName[] =>
  clause
    .split(",")
    .map((part) => part.trim().replace(/^type\s+/, ""))
    .filter((part) => part.length > 0)
    .map((part) => {
      const [imported, exported] = part.split(/\s+as\s+/);
      return { imported: imported!.trim(), exported: (exported ?? imported!).trim() };
    });

interface Use {
  readonly module: string;
  /** Names used; undefined: every export (namespace import, `export *`). */
  readonly names: readonly string[] | undefined;
}

const uses = (file: string, text: string): Use[] => {
  const out: Use[] = [];
  const target = (spec: string) => (spec.startsWith(".") ? resolve(dirname(file), spec) : undefined);
  const clause = /(?:^|[\s;])(import|export)\s+(?:type\s+)?([\s\S]*?)\s+from\s+["']([^"']+)["']/g;
  for (const m of text.matchAll(clause)) {
    const module = target(m[3]!);
    if (!module) continue;
    const what = m[2]!.trim();
    if (/^\*(\s+as\s+\w+)?$/.test(what) || /,\s*\*\s+as\s+\w+$/.test(what)) {
      out.push({ module, names: undefined });
      continue;
    }
    const braces = /\{([^}]*)\}/.exec(what);
    const names = braces ? clauseNames(braces[1]!).map((n) => n.imported) : [];
    if (!braces || /^[A-Za-z_$][\w$]*\s*(,|$)/.test(what)) names.push("default");
    out.push({ module, names });
  }
  // Dynamic imports and worker scripts (new URL("./x.ts", import.meta.url)) load a whole module.
  for (const m of text.matchAll(/(?:import\(|new URL\()\s*["'](\.[^"']+)["']/g)) out.push({ module: target(m[1]!)!, names: undefined });
  return out;
};

export const unusedExports = (users: "product" | "product and tests" = "product"): string[] => {
  const files = sourceFiles(SRC);
  const texts = new Map(files.map((f) => [f, stripComments(readFileSync(f, "utf8"))]));
  const readers = users === "product" ? texts : new Map([...texts, ...testFiles(join(ROOT, "test")).map((f): [string, string] => [f, stripComments(readFileSync(f, "utf8"))])]);
  const used = new Map<string, Set<string> | "all">();
  for (const [file, text] of readers) {
    for (const use of uses(file, text)) {
      const current = used.get(use.module);
      if (current === "all") continue;
      if (!use.names) used.set(use.module, "all");
      else used.set(use.module, new Set([...(current ?? []), ...use.names]));
    }
  }
  const unused: string[] = [];
  for (const [file, text] of texts) {
    if (file === join(SRC, "index.ts") || file === join(SRC, "cli", "main.ts")) continue;
    const u = used.get(file);
    if (u === "all") continue;
    for (const name of declared(text)) if (!u?.has(name)) unused.push(`${relative(ROOT, file)}: ${name}`);
  }
  return unused.sort();
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const line of unusedExports(process.argv.includes("--with-tests") ? "product and tests" : "product")) process.stdout.write(`${line}\n`);
}
