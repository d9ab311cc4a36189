/** The Arrow rollout log: one row per rollout, written incrementally, readable by any Arrow IPC stream reader. */
export { openRolloutLog } from "./writer.ts";
export type { ResumedLog, RolloutLogWriter, RolloutLogWriterOptions } from "./writer.ts";
export { readRolloutLog } from "./reader.ts";
export type { ReadRolloutLogOptions, RolloutLogContents } from "./reader.ts";
export type { RecordedRollout } from "./decode.ts";
export type { EncodePng } from "./encode.ts";
export { MetadataKey, ROLLOUT_LOG_FORMAT, ROLLOUT_LOG_FORMAT_VERSION, TensorSizes, rewardColumn, rolloutLogSchema } from "./schema.ts";
export type { LatentDtype, RolloutLogMetadata } from "./schema.ts";
export {
  RolloutLogClosed,
  RolloutLogColumnType,
  RolloutLogExists,
  RolloutLogInvalidOptions,
  RolloutLogIoError,
  RolloutLogMetadataMismatch,
  RolloutLogMissingColumn,
  RolloutLogNonFinite,
  RolloutLogNotArrow,
  RolloutLogRowInvalid,
  RolloutLogTruncated,
} from "./errors.ts";
export type { RolloutLogError } from "./errors.ts";
