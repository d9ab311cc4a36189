/**
 * The composition root of `advgrpo run` / `learner`: the run's models (compose.ts), restored from the checkpoint
 * a resume continues from, and every port the epoch stream goes through. train.ts only streams.
 *
 * Where an epoch's scored rollouts come from is decided here (`rolloutSource`): this process's own models,
 * rollout workers over NATS when the pipeline has a distributed: section, or, at learner.maxPolicyLag >= 1
 * without one, a sampling thread that runs ahead of learning (thread-rollouts.ts). The optimiser steps, the rollout
 * log (the recorder) and the evaluator are always this process's; the divergence guard wraps whatever
 * returns model outputs, remote rollouts included.
 */
import { writeFileSync } from "node:fs";
import { Effect, type Scope } from "effect";
import { openRemoteRollouts, type RemoteRollouts } from "../distributed/remote-rollouts.ts";
import { encodePng } from "../io/png.ts";
import { openRolloutLog, type RolloutLogWriter } from "../io/rollout-log/index.ts";
import { bindPorts, type Ports, rolloutPorts, StageClock } from "./adapters.ts";
import { buildRun, type EvaluatedRunModels, resource } from "./compose.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { guardDivergence, requireSaneWeights } from "./divergence.ts";
import { type Resumed, restore } from "./resume.ts";
import type { RunFolder } from "./run-folder.ts";
import { headsTrainedIn } from "./state.ts";
import { openThreadRollouts } from "./thread-rollouts.ts";

export interface TrainingRun extends EvaluatedRunModels {
  readonly ports: Ports;
  /** Sampler batches (groups) in flight at once. */
  readonly samplingConcurrency: number;
  /** Wall time spent behind each port, taken once per epoch. */
  readonly clock: StageClock;
  readonly log: RolloutLogWriter;
  /** Remote rollouts only: the fault (NATS gone, a stream deleted) that ends the run, see RemoteRollouts. */
  readonly rolloutFault: Pick<RemoteRollouts, "fault$" | "failure"> | undefined;
}

interface TrainingRunOptions {
  readonly folder: RunFolder;
  /** The resolved pipeline, as written to the run folder and into the log and checkpoints. */
  readonly configJson: string;
  /** The checkpoint the run continues from; undefined for a fresh start. */
  readonly resumed: Resumed | undefined;
  readonly progress: (line: string) => void;
}

type RolloutPorts = Pick<Ports, "sampler" | "features" | "rewards">;

/** The ports that turn keys into scored rollouts, and how many groups the sampler is asked for at once. */
interface RolloutSource {
  readonly ports: RolloutPorts;
  readonly samplingConcurrency: number;
  readonly fault: TrainingRun["rolloutFault"];
}

const rolloutSource = (models: EvaluatedRunModels, clock: StageClock, o: TrainingRunOptions): Effect.Effect<RolloutSource, unknown, Scope.Scope> => {
  const { config, policy, rewards } = models;
  if (!config.distributed && config.learner.maxPolicyLag > 0) {
    return Effect.map(
      resource(async () => openThreadRollouts(config, policy, rewards, o), (thread) => thread.close()),
      // Every group of the epoch is asked for at once: they arrive in the thread's order, whatever the stream awaits.
      (thread) => ({ ports: thread.ports, samplingConcurrency: config.sampler.promptsPerEpoch, fault: undefined }),
    );
  }
  if (!config.distributed) return Effect.succeed({ ports: rolloutPorts({ ...models, clock }), samplingConcurrency: 1, fault: undefined });
  return Effect.map(
    resource(() => openRemoteRollouts(config, policy, rewards, { progress: o.progress, fresh: !o.resumed }), (remote) => remote.close()),
    // Remote groups are all issued at once so that every worker has one to take.
    (remote) => ({ ports: remote.ports, samplingConcurrency: config.sampler.promptsPerEpoch, fault: remote }),
  );
};

const openLog = (config: PipelineConfig, models: EvaluatedRunModels, o: TrainingRunOptions): RolloutLogWriter =>
  openRolloutLog(o.folder.rollouts, {
    runId: config.run.name,
    createdAt: new Date().toISOString(),
    pipelineConfig: o.configJson,
    rewardComponents: models.rewards.components.map((c) => c.component.name),
    tensorSizes: {
      latent: models.policy.config.net.latentShape.reduce((a, b) => a * b, 1),
      feature: models.layout.dim,
      patchTokens: config.record.storeFeatures ? models.layout.patchCount : null,
    },
    latentDtype: config.record.latentDtype,
    cleanLatents: models.policy.sampler.recordsClean && config.record.latentDtype !== "none",
    encodePng: (data, height, width) => (config.record.storeImages ? encodePng({ data, height, width }) : new Uint8Array()),
    batchRows: config.record.batchRows,
    resume: o.resumed !== undefined,
  });

/** Everything a training run streams through, released when the caller's scope closes. */
export const buildTrainingRun = (config: PipelineConfig, o: TrainingRunOptions): Effect.Effect<TrainingRun, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const models = yield* buildRun(config, { runDir: o.folder.root });
    const { policy, rewards } = models;
    yield* Effect.try({
      try: () => {
        if (o.resumed) restore(o.resumed, policy, rewards, o.folder);
        requireSaneWeights(policy.params, "generator", o.resumed ? o.resumed.file : "generator.checkpoint");
        writeFileSync(o.folder.config, `${o.configJson}\n`);
      },
      catch: (error) => error,
    });
    const log = yield* resource(async () => openLog(config, models, o), async (l) => l.close());
    const clock = new StageClock();
    const source = yield* rolloutSource(models, clock, o);
    const bound = { ...bindPorts({ ...models, log, trainedHeads: (epoch) => headsTrainedIn(config, rewards, epoch), clock }), ...source.ports };
    const trainedWeights = { generator: () => policy.params, discriminators: () => [rewards.discriminator.params, ...(rewards.frozen ? [rewards.frozen.params] : [])] };
    const ports = { ...bound, ...guardDivergence(config, bound, trainedWeights, () => policy.optimizer.stepCount) };
    return { ...models, ports, samplingConcurrency: source.samplingConcurrency, clock, log, rolloutFault: source.fault };
  });
