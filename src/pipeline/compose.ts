/**
 * The composition root: the one place that builds a run's models from its pipeline file (policy, frozen
 * backbone and its feature layout, references, reward model and, for commands that evaluate, the evaluator).
 * Each model is a scoped resource, so whatever was opened is released when the caller's scope closes, also
 * when a later model fails to build. `run` (through training-run.ts, which adds the ports), `replay`, `eval`
 * and the rollout worker all go through here.
 */
import { Effect, type Scope } from "effect";
import { type FeatureExtractor, type FeatureLayout, featureLayout } from "../models/backbone/features.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { requireConfiguredFiles } from "./configured-files.ts";
import { Evaluator } from "./evaluation.ts";
import { buildPolicy, type Policy } from "./policy.ts";
import { loadReferences, type ReferenceLibrary } from "./references.ts";
import { buildRewardModel, loadBackbone, type RewardModel } from "./reward-model.ts";
import { trainingPrompts } from "./prompts.ts";

export interface RunModels {
  readonly config: PipelineConfig;
  readonly execution: ExecutionConfig;
  /** The training prompts, indexed by `promptIndex`. */
  readonly prompts: readonly string[];
  readonly policy: Policy;
  readonly backbone: FeatureExtractor;
  /** The shapes of the backbone's features, which every port that handles them is given. */
  readonly layout: FeatureLayout;
  readonly references: ReferenceLibrary;
  readonly rewards: RewardModel;
}

export interface EvaluatedRunModels extends RunModels {
  readonly evaluator: Evaluator;
}

const executionOf = (config: PipelineConfig): ExecutionConfig => ({
  providers: config.compute.executionProviders,
  intraOpThreads: config.compute.intraOpThreads,
  spinning: config.compute.allowSpinning,
});

/** A model built by `open` and released with the scope; a failure to build is passed on as it was thrown. */
export const resource = <A>(open: () => Promise<A>, release: (a: A) => Promise<void>): Effect.Effect<A, unknown, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: open, catch: (error) => error }),
    (a) => Effect.promise(() => release(a)),
  );

const buildModels = (config: PipelineConfig): Effect.Effect<RunModels, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.try({ try: () => requireConfiguredFiles(config), catch: (error) => error });
    const execution = executionOf(config);
    const prompts = trainingPrompts(config);
    const policy = yield* resource(() => buildPolicy(config, execution), (p) => p.release());
    const backbone = yield* resource(() => loadBackbone(config, execution), (b) => b.release());
    // A loaded backbone knows its token width (declared by the file or probed at load).
    const layout = featureLayout(backbone.config, backbone.config.dim!);
    const references = yield* Effect.tryPromise({ try: () => loadReferences(config, prompts, backbone, policy.imageSize), catch: (error) => error });
    const rewards = yield* resource(() => buildRewardModel(config, backbone, layout, references, execution), (r) => r.release());
    return { config, execution, prompts, policy, backbone, layout, references, rewards };
  });

/** The run's models; with `evaluation`, also the evaluator, which writes its image grids under `runDir`. */
export function buildRun(config: PipelineConfig): Effect.Effect<RunModels, unknown, Scope.Scope>;
export function buildRun(config: PipelineConfig, evaluation: { readonly runDir: string }): Effect.Effect<EvaluatedRunModels, unknown, Scope.Scope>;
export function buildRun(config: PipelineConfig, evaluation?: { readonly runDir: string }): Effect.Effect<RunModels | EvaluatedRunModels, unknown, Scope.Scope> {
  if (!evaluation) return buildModels(config);
  return Effect.gen(function* () {
    const models = yield* buildModels(config);
    const evaluator = yield* resource(() => Evaluator.create(config, models.policy, models.rewards, evaluation.runDir, models.execution), (e) => e.release());
    return { ...models, evaluator };
  });
}

/**
 * Runs `body` with the models (and ports) built by `build` and releases them afterwards, whether `body` resolves or throws;
 * errors (from building or from `body`) reach the caller unchanged.
 */
export const withRun = <M, A>(build: Effect.Effect<M, unknown, Scope.Scope>, body: (models: M) => Promise<A>): Promise<A> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(build, (models) => Effect.tryPromise({ try: () => body(models), catch: (error) => error }))));
