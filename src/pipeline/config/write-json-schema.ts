/**
 * Regenerates schemas/pipeline.schema.json and the field reference in pipelines/README.md from the
 * Effect schema. Run after changing schema.ts:  node src/pipeline/config/write-json-schema.ts
 * (test/pipeline/config-schema.test.ts fails while either file is stale).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { readmeFile, withFieldReference } from "./docs.ts";
import { jsonSchemaFile, pipelineJsonSchemaText } from "./json-schema.ts";

writeFileSync(jsonSchemaFile, pipelineJsonSchemaText());
writeFileSync(readmeFile, withFieldReference(readFileSync(readmeFile, "utf8")));
console.log(`wrote ${jsonSchemaFile}\nwrote ${readmeFile}`);
