import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { readmeFile, withFieldReference } from "../../src/pipeline/config/docs.ts";
import { jsonSchemaFile, pipelineJsonSchemaText } from "../../src/pipeline/config/json-schema.ts";
import { decodePipelineConfig, loadPipelineFile, pipelineJsonSchema, resolvedConfigJson } from "../../src/pipeline/config/index.ts";

const regenerate = "stale: run `node_modules/.bin/node src/pipeline/config/write-json-schema.ts` and commit the result";

describe("generated files", () => {
  it("schemas/pipeline.schema.json matches the Effect schema", () => {
    expect(readFileSync(jsonSchemaFile, "utf8"), regenerate).toBe(pipelineJsonSchemaText());
  });

  it("the field reference in pipelines/README.md matches the Effect schema", () => {
    const readme = readFileSync(readmeFile, "utf8");
    expect(readme, regenerate).toBe(withFieldReference(readme));
  });

  it("every field states its default (or why it has none), every block is described, unknown keys are refused", () => {
    type Node = { type?: string; properties?: Record<string, Node>; items?: Node | Node[]; anyOf?: Node[]; description?: string; additionalProperties?: unknown };
    const problems: string[] = [];
    const visit = (path: string, node: Node): void => {
      if (node.type === "object" && node.additionalProperties !== false) problems.push(`${path} accepts unknown keys`);
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const documented = child.type === "object" ? (child.description ?? "") !== "" : /Default: |Optional; |Required\./.test(child.description ?? "");
        if (key !== "kind" && !documented) problems.push(`${path}.${key} is undocumented`);
        visit(`${path}.${key}`, child);
      }
      for (const variant of node.anyOf ?? []) visit(path, variant);
      if (node.items !== undefined && !Array.isArray(node.items)) visit(`${path}[]`, node.items);
    };
    visit("", pipelineJsonSchema() as Node);
    expect(problems).toEqual([]);
  });

  it("every number states its unit; every integer and every list of components (each holding a model) is bounded", () => {
    type Node = { type?: string; properties?: Record<string, Node>; items?: Node | Node[]; anyOf?: Node[]; description?: string; maximum?: number; maxItems?: number };
    const problems: string[] = [];
    // A number inside a list or a variant is documented by the field that holds it.
    const visit = (path: string, node: Node, doc: string): void => {
      const description = node.description ?? doc;
      if ((node.type === "number" || node.type === "integer") && !/ Unit: /.test(description)) problems.push(`${path} states no unit`);
      if (node.type === "integer" && node.maximum === undefined) problems.push(`${path} has no maximum`);
      if (node.type === "array" && !Array.isArray(node.items) && node.items?.anyOf?.some((v) => v.type === "object") && node.maxItems === undefined) problems.push(`${path} has no maxItems`);
      for (const [key, child] of Object.entries(node.properties ?? {})) visit(`${path}.${key}`, child, "");
      for (const variant of node.anyOf ?? []) visit(path, variant, description);
      for (const item of node.items === undefined ? [] : Array.isArray(node.items) ? node.items : [node.items]) visit(`${path}[]`, item, description);
    };
    visit("", pipelineJsonSchema() as Node, "");
    expect(problems).toEqual([]);
  });
});

describe("resolvedConfigJson", () => {
  const decode = (input: unknown) => Effect.runPromise(decodePipelineConfig(input));

  it("is independent of the key order of the file", async () => {
    const a = await decode({ learner: { lr: 1e-5, gradClip: 0.5 }, run: { seed: 3 } });
    const b = await decode({ run: { seed: 3 }, learner: { gradClip: 0.5, lr: 1e-5 } });
    expect(resolvedConfigJson(a)).toBe(resolvedConfigJson(b));
  });

  it("sorts keys at every depth and decodes back to the same configuration", async () => {
    const config = await Effect.runPromise(loadPipelineFile(resolve(import.meta.dirname, "../../pipelines/presets/sd35-lora-cuda.yaml")));
    const json = resolvedConfigJson(config);
    const keysInOrder = (value: unknown): boolean =>
      Array.isArray(value)
        ? value.every(keysInOrder)
        : typeof value !== "object" || value === null || (Object.keys(value).join() === Object.keys(value).sort().join() && Object.values(value).every(keysInOrder));
    expect(keysInOrder(JSON.parse(json))).toBe(true);
    expect(await decode(JSON.parse(json))).toEqual(config);
  });
});
