/** The streaming stages: one rxjs operator per file, model execution behind the ports. */
export { assembleGroups, type AssembleGroupsOptions } from "./assembleGroups.ts";
export { collectEpoch } from "./collectEpoch.ts";
export { computeAdvantages } from "./computeAdvantages.ts";
export { dgSchedule, intervalPhase, type DgScheduleOptions } from "./dgSchedule.ts";
export { discriminatorStep } from "./discriminatorStep.ts";
export { evaluate, type EvaluateOptions } from "./evaluate.ts";
export { expandGroup, memberSeed, type ExpandGroupOptions } from "./expandGroup.ts";
export { extractFeatures } from "./extractFeatures.ts";
export { forEachEpoch } from "./forEachEpoch.ts";
export { learnerStep, type LearnerStepOptions } from "./learnerStep.ts";
export { promptSource, promptsOfEpoch, type PromptSourceOptions } from "./promptSource.ts";
export { recordRollouts } from "./recordRollouts.ts";
export { sampleBatches } from "./sampleBatches.ts";
export { scoreRewards } from "./scoreRewards.ts";
export type * from "./ports.ts";
export type * from "./types.ts";
