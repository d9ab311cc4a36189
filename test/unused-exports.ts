/**
 * Exported symbols of src/ without a product use: `node test/unused-exports.ts` prints them, one per line
 * (nothing when every export has a use), and unused-exports.test.ts requires the list to be empty.
 * A use is an import or re-export from another file under src/ (src/index.ts, the package's entry point,
 * counts: what it re-exports is the public API). Namespace imports and `export *` use every export of their
 * module. A test or spec may import a module's internal helper to test it, which counts as a use only when
 * the module's own code uses that helper too: an export that only tests call is dead code.
 *
 * A lexical scan, not a type checker: it reads `export` declarations and import/export clauses with their
 * module paths, which is all this code base's module syntax uses.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const REPOSITORY = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".spec.ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });

const filesEndingIn = (dir: string, suffix: string): string[] =>
  readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => join(e.parentPath, e.name));

/** Tests under test/ and the marble specs beside src/'s operators. */
const testFiles = (root: string): string[] => [...filesEndingIn(join(root, "test"), ".ts"), ...filesEndingIn(join(root, "src"), ".spec.ts")];

/** Comments and string contents would give false declarations; template literals keep their `${}` code. */
const stripComments = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:\\])\/\/.*$/gm, "$1");

const stripStrings = (text: string): string => text.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""');

/** Whether `name` occurs in `text` (a module without comments) anywhere but its own declaration. */
const usedWithin = (text: string, name: string): boolean =>
  [...stripStrings(text).matchAll(new RegExp(`(?<![\\w$.])${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g"))].length > 1;

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

/** Module -> names its readers import from it ("all": a namespace import or `export *`). */
const usedNames = (readers: ReadonlyMap<string, string>): Map<string, Set<string> | "all"> => {
  const used = new Map<string, Set<string> | "all">();
  for (const [file, text] of readers) {
    for (const use of uses(file, text)) {
      const current = used.get(use.module);
      if (current === "all") continue;
      if (!use.names) used.set(use.module, "all");
      else used.set(use.module, new Set([...(current ?? []), ...use.names]));
    }
  }
  return used;
};

const has = (used: Map<string, Set<string> | "all">, file: string, name: string): boolean => {
  const u = used.get(file);
  return u === "all" || (u?.has(name) ?? false);
};

/** `root`: a repository with src/ and test/ (this one unless a test builds its own). */
export const unusedExports = (root = REPOSITORY): string[] => {
  const src = join(root, "src");
  const texts = new Map(sourceFiles(src).map((f) => [f, stripComments(readFileSync(f, "utf8"))]));
  const byProduct = usedNames(texts);
  const byTests = usedNames(new Map(testFiles(root).map((f): [string, string] => [f, stripComments(readFileSync(f, "utf8"))])));
  const unused: string[] = [];
  for (const [file, text] of texts) {
    if (file === join(src, "index.ts") || file === join(src, "cli", "main.ts")) continue;
    for (const name of declared(text)) {
      if (has(byProduct, file, name) || (has(byTests, file, name) && usedWithin(text, name))) continue;
      unused.push(`${relative(root, file)}: ${name}`);
    }
  }
  return unused.sort();
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const line of unusedExports()) process.stdout.write(`${line}\n`);
}
