export { resolvedConfigJson } from "./canonical-json.ts";
export {
  PipelineExtendsCycle,
  PipelineFieldError,
  PipelineFileError,
  PipelineInvariantError,
  PipelineYamlError,
  type FieldIssue,
  type InvariantViolation,
  type PipelineLoadError,
} from "./errors.ts";
export { pipelineJsonSchema } from "./json-schema.ts";
export { decodePipelineConfig, defaultPresetsDir, loadPipelineFile, type LoadOptions } from "./load.ts";
export { PipelineConfig, PipelineFile, type RewardComponent, type RewardKind } from "./schema.ts";
