/**
 * The JSON Schema of pipeline files, generated from the Effect schema, so editors complete and check
 * them. Draft-07 because that is the draft YAML editors (yaml-language-server) support best.
 */
import { fileURLToPath } from "node:url";
import { JsonSchema, Schema } from "effect";
import { PipelineFile, strictness } from "./schema.ts";

export const jsonSchemaFile = fileURLToPath(new URL("../../../schemas/pipeline.schema.json", import.meta.url));

export const pipelineJsonSchema = (): JsonSchema.JsonSchema => {
  const document = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(PipelineFile, strictness));
  const definitions = Object.keys(document.definitions).length > 0 ? { definitions: document.definitions } : {};
  return { $schema: JsonSchema.META_SCHEMA_URI_DRAFT_07, ...document.schema, ...definitions };
};

export const pipelineJsonSchemaText = (): string => `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
