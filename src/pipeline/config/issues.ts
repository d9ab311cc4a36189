/**
 * Turns an Effect Schema issue tree into flat field issues a user can act on: the dotted path, what
 * the schema expects there, what the file holds there, and the file it came from.
 */
import { SchemaAST, SchemaIssue } from "effect";
import type { FieldIssue } from "./errors.ts";
import { type FileLayer, type Path, originOf, valueAt } from "./merge.ts";
import { levenshtein } from "../../util/levenshtein.ts";

interface Located {
  readonly path: Path;
  readonly expected: string;
}

const formatIssue = SchemaIssue.makeFormatterDefault();

/** The default formatter says "Expected X" for type and range failures; a custom check message is kept whole. */
const expectedOf = (issue: SchemaIssue.Issue): string => formatIssue(issue).replace(/^Expected /, "");


const unexpectedKey = (issue: SchemaIssue.UnexpectedKey, path: Path): Located => {
  const known = SchemaAST.isObjects(issue.ast) ? issue.ast.propertySignatures.map((p) => String(p.name)) : [];
  const key = String(path[path.length - 1]);
  const closest = known
    .map((name) => ({ name, distance: levenshtein(key.toLowerCase(), name.toLowerCase()) }))
    .filter((candidate) => candidate.distance <= 2)
    .sort((a, b) => a.distance - b.distance)[0];
  const suggestion = closest === undefined ? "" : ` (did you mean "${closest.name}"?)`;
  return { path, expected: `a known key${suggestion}; the keys here are ${known.join(", ")}` };
};

const locate = (issue: SchemaIssue.Issue, path: Path): ReadonlyArray<Located> => {
  switch (issue._tag) {
    case "Pointer":
      return locate(issue.issue, [...path, ...(issue.path as Path)]);
    case "Composite":
      return issue.issues.flatMap((inner) => locate(inner, path));
    case "AnyOf":
      // A union member that matched the discriminator reports its own issues; none matching is one issue here.
      return issue.issues.length > 0 ? issue.issues.flatMap((inner) => locate(inner, path)) : [{ path, expected: expectedOf(issue) }];
    case "Encoding":
      return locate(issue.issue, path);
    case "UnexpectedKey":
      return [unexpectedKey(issue, path)];
    case "MissingKey":
      return [{ path, expected: "a value (this key is required)" }];
    default:
      return [{ path, expected: expectedOf(issue) }];
  }
};

const describeFound = (input: unknown, path: Path): string => {
  const found = valueAt(input, path);
  return found.present ? JSON.stringify(found.value) : "nothing";
};

export const dottedPath = (path: Path): string => (path.length === 0 ? "(top level)" : path.join("."));

export const fieldIssues = (issue: SchemaIssue.Issue, input: unknown, layers: ReadonlyArray<FileLayer>): ReadonlyArray<FieldIssue> =>
  locate(issue, []).map((located) => ({
    file: originOf(layers, located.path),
    path: dottedPath(located.path),
    expected: located.expected,
    found: describeFound(input, located.path),
  }));
