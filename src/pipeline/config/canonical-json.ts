/**
 * The resolved configuration as canonical JSON (keys sorted at every depth), so two runs with the
 * same settings store byte-identical metadata whatever order their files listed keys in.
 */
import type { PipelineConfig } from "./schema.ts";

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
};

export const resolvedConfigJson = (config: PipelineConfig): string => JSON.stringify(sortKeys(config));
