/**
 * advgrpo's public API. The engine (graph builder, autodiff, runtime, optimisers) stands alone; the rest
 * builds Adv-GRPO on it.
 */

// Engine: typed ONNX graphs, reverse-mode gradients, execution, optimisers, checkpoints.
export { Graph, numel, type Node, type Tensor } from "./graph/graph.ts";
export type { Shape } from "./graph/tensor.ts";
export * as ops from "./graph/ops.ts";
export { toOnnx, OPSET } from "./graph/serialize.ts";
export { importGraph, readSignature, type ModelSignature, type ValueSignature } from "./graph/import.ts";
export { GraphShapeError, NoGradientRuleError, OnnxImportError, UnknownOpError } from "./graph/errors.ts";
export { graphFlops } from "./graph/flops.ts";
export { gradients } from "./autodiff/gradients.ts";
export { ParamScope, initParams, isAdapterParam, type LoraConfig, type ParamSpec } from "./nn/params.ts";
export * as layers from "./nn/layers.ts";
export { compileForward, compileTrainStep, runTrainStep, paramFeeds, type CompiledGraph, type CompiledTrainGraph, type GraphRunner } from "./train/train-graph.ts";
export { LocalSession, type Session } from "./runtime/local-session.ts";
export { availableProviders, defaultExecution, resolveProviders, type ExecutionConfig } from "./runtime/execution.ts";
export { FeedError, NonFiniteError, ProviderUnavailableError, SessionError } from "./runtime/errors.ts";
export { f32, hostTensor, type Feeds, type Fetches, type HostTensor } from "./runtime/tensors.ts";
export * as optim from "./optim/index.ts";
export { decodeSafetensors, encodeSafetensors, readSafetensors, validateAgainst, writeSafetensors } from "./io/safetensors.ts";
export { loadTrainingState, saveTrainingState, type TrainingState } from "./io/training-state.ts";

// Flow matching and the policy.
export { sdeWindow, sigmaSchedule, type SdeWindow, type SigmaSchedule } from "./flow/schedule.ts";
export { cpsMethod, eulerStep, guide, logProbOf, odeMethod, sdeMethod, stochasticStep } from "./flow/steps.ts";
export { FlowSampler } from "./flow/sampler.ts";
export { groupAdvantages, type AdvantageOptions } from "./rl/advantages.ts";
export { clippedSurrogate, klPenalty } from "./rl/policy-loss.ts";
export { guidedVelocityModel, policyLossModel } from "./rl/policy-graph.ts";
export { GeneratorLearner, type GeneratorStepStats } from "./rl/learner.ts";
export { PolicySampler } from "./rl/policy-sampler.ts";

// Models, rewards, the shapes world, evaluation.
export { checkGeneratorSignature, GENERATOR_NAMES, GeneratorContractError } from "./models/generator/contract.ts";
export { loadGeneratorWeights, saveGeneratorWeights } from "./models/generator/weights.ts";
export { FeatureExtractor, type Features } from "./models/backbone/features.ts";
export { Discriminator } from "./models/discriminator/discriminator.ts";
export { scoreWeighted, weightedReward, type RewardComponent } from "./rewards/reward.ts";
export { adversarialDinoReward, frozenDiscriminatorReward } from "./rewards/discriminator-reward.ts";
export { dinoSimilarityReward } from "./rewards/similarity.ts";
export { ocrReward, ocrScore } from "./rewards/ocr.ts";
export { defaultReferenceSet, loadReferenceSet, type ReferenceSet } from "./io/reference-set.ts";
export { formatPrompt, parsePrompt, promptsOf } from "./world/prompt.ts";
export { render, renderBase, renderReference, STYLES } from "./world/render.ts";
export { checkAlignment, analyseImage } from "./world/analyse.ts";
export { degrade, DEGRADATIONS } from "./world/degrade.ts";
export { evaluateSamples } from "./eval/metrics.ts";
export { StyleClassifier } from "./eval/style-classifier.ts";

// Data: PNG, the Arrow rollout log, reports.
export { decodePng, encodePng, type RgbImage } from "./io/png.ts";
export { openRolloutLog, readRolloutLog, rolloutLogSchema, type RolloutLogWriter } from "./io/rollout-log/index.ts";
export type { AdvantagedRollout, RolloutKey, SampledRollout, TrajectoryStep } from "./rollout/rollout.ts";
export * as report from "./report/index.ts";

// The pipeline: stages, configuration, the run.
export * as stages from "./stages/index.ts";
export { loadPipelineFile, decodePipelineConfig, PipelineConfig, resolvedConfigJson } from "./pipeline/config/index.ts";
export { runTraining, type RunOptions, type RunSummary } from "./pipeline/train.ts";
export { runFolder, runFolderOf } from "./pipeline/run-folder.ts";
export { makeRng, restoreRng, type Rng } from "./util/prng.ts";
