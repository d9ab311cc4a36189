/**
 * `advgrpo run`: the Adv-GRPO loop as a stream of typed stages, one epoch at a time:
 *
 *   prompts -> expand(G) -> sample -> features -> rewards -> groups -> epoch -> advantages -> record
 *           -> D:G schedule (discriminator step | generator steps) -> evaluation -> checkpoint
 *
 * Every epoch ends with a checkpoint holding everything a resume needs (weights, optimiser states, EMA,
 * counters and the byte lengths of the rollout and metrics logs, which a resume cuts back to).
 */
import { existsSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { concatWith, defer, EMPTY, from, lastValueFrom, type Observable, type OperatorFunction, tap } from "rxjs";
import { encodePng } from "../io/png.ts";
import { openRolloutLog } from "../io/rollout-log/index.ts";
import { loadTrainingState, requireMetadata, saveTrainingState, type TrainingState } from "../io/training-state.ts";
import { METRICS_FILE, openMetricsLog, readMetricsLog, type MetricRecord } from "../report/metrics-log.ts";
import { assembleGroups } from "../stages/assembleGroups.ts";
import { collectEpoch } from "../stages/collectEpoch.ts";
import { computeAdvantages } from "../stages/computeAdvantages.ts";
import { dgSchedule } from "../stages/dgSchedule.ts";
import { discriminatorStep } from "../stages/discriminatorStep.ts";
import { evaluate } from "../stages/evaluate.ts";
import { expandGroup } from "../stages/expandGroup.ts";
import { extractFeatures } from "../stages/extractFeatures.ts";
import { forEachEpoch } from "../stages/forEachEpoch.ts";
import { learnerStep } from "../stages/learnerStep.ts";
import { recordRollouts } from "../stages/recordRollouts.ts";
import { sampleBatches } from "../stages/sampleBatches.ts";
import { scoreRewards } from "../stages/scoreRewards.ts";
import type { AdvantagedEpoch, DiscriminatorStepReport, EvaluationReport, GeneratorStepReport, PromptItem } from "../stages/types.ts";
import { join } from "node:path";
import { bindPorts, StageClock } from "./adapters.ts";
import { resolvedConfigJson } from "./config/canonical-json.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { Evaluator } from "./evaluation.ts";
import { buildPolicy, type Policy } from "./policy.ts";
import { loadReferences } from "./references.ts";
import { buildRewardModel, loadBackbone, type RewardModel } from "./reward-model.ts";
import { checkpointFile, createRunFolder, listCheckpoints, type RunFolder } from "./run-folder.ts";
import { writeRunReport } from "./report.ts";
import { applyState, captureState, headsTrainedIn, trainingPrompts } from "./state.ts";
import { mean, populationStd } from "../rl/advantages.ts";
import { openRemoteRollouts } from "../distributed/remote-rollouts.ts";

export interface RunOptions {
  readonly resume: boolean;
  /** Progress lines (one per epoch and per evaluation). */
  readonly progress: (line: string) => void;
  /** Checked between epochs: true stops the run cleanly after a checkpoint. */
  readonly stopRequested: () => boolean;
}

export interface RunSummary {
  readonly folder: RunFolder;
  readonly epochsCompleted: number;
  readonly stoppedEarly: boolean;
  readonly lastEvaluation: Readonly<Record<string, number>> | undefined;
  readonly generatorSteps: number;
  readonly rolloutRows: number;
}

type Report = GeneratorStepReport | DiscriminatorStepReport | EvaluationReport;

const fileSize = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

interface Resumed {
  readonly startEpoch: number;
  readonly state: TrainingState;
}

const latestCheckpoint = async (folder: RunFolder): Promise<Resumed | undefined> => {
  const file = listCheckpoints(folder).at(-1);
  if (!file) return undefined;
  const state = await loadTrainingState(file);
  return { startEpoch: Number(requireMetadata(state, file, "epoch")) + 1, state };
};

const restore = (resumed: Resumed, policy: Policy, rewards: RewardModel, folder: RunFolder, configJson: string): void => {
  const file = listCheckpoints(folder).at(-1)!;
  if (requireMetadata(resumed.state, file, "config") !== configJson) {
    throw new Error(`${file}: the run was started with a different pipeline configuration; resume with the same file, or choose another run.name`);
  }
  applyState(resumed.state, file, policy, rewards);
  // Rows and metrics written after this checkpoint belong to the epoch the kill interrupted: cut them.
  truncateSync(folder.rollouts, Number(requireMetadata(resumed.state, file, "rolloutLogBytes")));
  truncateSync(join(folder.root, METRICS_FILE), Number(requireMetadata(resumed.state, file, "metricsBytes")));
};

const checkpoint = async (folder: RunFolder, epoch: number, policy: Policy, rewards: RewardModel, configJson: string, rolloutRows: number, keep: number): Promise<void> => {
  await saveTrainingState(
    checkpointFile(folder, epoch),
    captureState(policy, rewards, {
      epoch: String(epoch),
      config: configJson,
      rolloutLogBytes: String(fileSize(folder.rollouts)),
      rolloutRows: String(rolloutRows),
      metricsBytes: String(fileSize(join(folder.root, METRICS_FILE))),
    }),
  );
  if (keep > 0) for (const old of listCheckpoints(folder).slice(0, -keep)) unlinkSync(old);
};

/** Per-epoch reward statistics, per component and in total. */
const epochMetrics = (batch: AdvantagedEpoch): Record<string, number> => {
  const rows = batch.groups.flat();
  const components = Object.keys(rows[0]?.rewards ?? {});
  return {
    rewardMean: mean(rows.map((r) => r.reward)),
    rewardStd: populationStd(rows.map((r) => r.reward)),
    zeroStdGroupFraction: batch.zeroStdGroupFraction,
    advantageAbsMean: mean(rows.map((r) => Math.abs(r.advantage))),
    discLogitCls: mean(rows.map((r) => r.discLogitCls)),
    ...Object.fromEntries(components.map((c) => [`reward.${c}`, mean(rows.map((r) => r.rewards[c]!))])),
  };
};

const fmt = (x: number | undefined, digits = 3) => (x === undefined || Number.isNaN(x) ? "-" : Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(digits) : x.toExponential(1));

export const runTraining = async (config: PipelineConfig, folder: RunFolder, options: RunOptions): Promise<RunSummary> => {
  if (config.discriminator.feed === "recorded") throw new Error("discriminator.feed: 'recorded' is not implemented yet; use 'fresh'");
  createRunFolder(folder);
  const configJson = resolvedConfigJson(config);
  const execution = { providers: config.compute.executionProviders, intraOpThreads: config.compute.intraOpThreads, spinning: config.compute.allowSpinning };
  const prompts = trainingPrompts(config);
  const resumed = options.resume ? await latestCheckpoint(folder) : undefined;
  if (existsSync(folder.rollouts) && !resumed) {
    if (!options.resume) throw new Error(`${folder.root} already holds a run; resume it with --resume (or run.resume: true), or choose another run.name`);
    // Killed before its first checkpoint: what it wrote belongs to the unfinished first epoch.
    for (const file of [folder.rollouts, join(folder.root, METRICS_FILE)]) rmSync(file, { force: true });
  }

  const policy = await buildPolicy(config, execution);
  const features = await loadBackbone(config, execution);
  const references = await loadReferences(config, prompts, features, policy.imageSize);
  const rewards = await buildRewardModel(config, features, references, execution);
  const evaluator = await Evaluator.create(config, policy, rewards, folder.root, execution);
  if (resumed) restore(resumed, policy, rewards, folder, configJson);
  writeFileSync(folder.config, `${configJson}\n`);

  const log = openRolloutLog(folder.rollouts, {
    runId: config.run.name,
    createdAt: new Date().toISOString(),
    pipelineConfig: configJson,
    rewardComponents: rewards.components.map((c) => c.component.name),
    tensorSizes: { latent: policy.config.net.latentShape.reduce((a, b) => a * b, 1), feature: features.config.dim!, patchTokens: config.record.storeFeatures ? (features.config.size / features.config.patchSize) ** 2 : null },
    latentDtype: config.record.latentDtype,
    encodePng: (data, height, width) => (config.record.storeImages ? encodePng({ data, height, width }) : new Uint8Array()),
    batchRows: config.record.batchRows,
    resume: resumed !== undefined,
  });
  const metrics = openMetricsLog(folder.root);
  const clock = new StageClock();
  const append = (record: MetricRecord) => metrics.append(record);
  // With a distributed: section, workers sample, featurise and score; everything else stays here.
  const remote = config.distributed ? await openRemoteRollouts(config, policy, rewards, { progress: options.progress, fresh: !resumed }) : undefined;
  const ports = { ...bindPorts({ policy, rewards, evaluator, log, prompts, trainedHeads: (epoch) => headsTrainedIn(config, rewards, epoch), clock }), ...remote?.ports };
  // Remote groups are all issued at once so that every worker has one to take.
  const samplingConcurrency = remote ? config.sampler.promptsPerEpoch : 1;
  const G = config.sampler.groupSize;
  const startEpoch = resumed?.startEpoch ?? 0;
  let lastEvaluation: Record<string, number> | undefined = resumed ? readMetricsLog(folder.root).records.filter((r) => r.kind === "eval").at(-1)?.metrics : undefined;
  let epochsCompleted = startEpoch;
  let stoppedEarly = false;

  const evaluationRecord = (epochsDone: number, values: Readonly<Record<string, number>>) => {
    lastEvaluation = { ...values };
    append({ kind: "eval", epoch: epochsDone, metrics: values });
    options.progress(
      `eval after ${epochsDone} epochs: aligned-and-styled ${fmt(values.alignedAndStyled)}  alignment ${fmt(values.alignment)}  style ${fmt(values.styleScore)}  dino-sim ${fmt(values.dinoSimilarity)}  reward gen ${fmt(values.generatedReward)} / ref ${fmt(values.referenceReward)}`,
    );
    writeRunReport(folder, configJson);
  };

  try {
    if (!resumed) evaluationRecord(0, await evaluator.evaluate(0));
    const adversarial = config.rewards.some((r) => r.kind === "adversarial-dino");
    const phases = (epoch: number): OperatorFunction<AdvantagedEpoch, Report> => {
      const dStep = discriminatorStep(ports.discriminator, ports.references);
      const gStep = learnerStep(ports.learner, { stepsPerEpoch: config.learner.stepsPerEpoch });
      if (epoch < config.discriminator.warmupEpochs) return dStep;
      if (!adversarial) return gStep;
      const trigger = config.discriminator.trigger === "when-generated-exceeds-reference";
      return dgSchedule(trigger ? { mode: "trigger", referenceReward: ports.referenceReward } : { mode: "interval", dTimes: config.discriminator.dTimes }, { discriminator: dStep, generator: gStep });
    };
    const epochStream = (prompts$: Observable<PromptItem>, epoch: number): Observable<unknown> => {
      if (options.stopRequested()) {
        stoppedEarly = true;
        return EMPTY;
      }
      const started = performance.now();
      let summary: Record<string, number> = {};
      let generatorSteps: Record<string, number>[] = [];
      let discriminatorStats: Record<string, number> | undefined;
      let evaluatedAfter = false;
      const endOfEpoch = async () => {
        const seconds = (performance.now() - started) / 1000;
        const timings = clock.take();
        const phase = generatorSteps.length > 0 ? "G" : "D";
        append({
          kind: "epoch",
          epoch,
          metrics: { ...summary, seconds, generatorPhase: phase === "G" ? 1 : 0, rssMB: process.memoryUsage().rss / 2 ** 20, ...Object.fromEntries(Object.entries(timings).map(([k, v]) => [`ms.${k}`, v])) },
        });
        const g = generatorSteps;
        const learnerText = g.length
          ? `ratio [${fmt(Math.min(...g.map((x) => x.ratioMin!)), 6)}, ${fmt(Math.max(...g.map((x) => x.ratioMax!)), 6)}] clip ${fmt(mean(g.map((x) => x.clipFracHigh! + x.clipFracLow!)), 2)} kl ${fmt(mean(g.map((x) => x.approxKl!)))} |g| ${fmt(mean(g.map((x) => x.gradNorm!)))}`
          : `D loss ${fmt(discriminatorStats?.loss)} acc ${fmt(discriminatorStats?.accuracy, 2)}`;
        const stages = Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(" ");
        options.progress(`epoch ${epoch + 1}/${config.run.epochs} [${phase}] reward ${fmt(summary.rewardMean)} ± ${fmt(summary.rewardStd)}  ${learnerText}  | ${seconds.toFixed(1)}s (${stages}) rss ${Math.round(process.memoryUsage().rss / 2 ** 20)}MB`);
        if (epoch + 1 === config.run.epochs && !evaluatedAfter) evaluationRecord(epoch + 1, await evaluator.evaluate(epoch + 1));
        await checkpoint(folder, epoch, policy, rewards, configJson, log.rowsWritten, config.run.keepCheckpoints);
        epochsCompleted = epoch + 1;
      };
      return prompts$.pipe(
        expandGroup({ runId: config.run.name, runSeed: config.run.seed, groupSize: G, policyVersion: () => policy.optimizer.stepCount }),
        sampleBatches(ports.sampler, { batchSize: G, concurrency: samplingConcurrency }),
        extractFeatures(ports.features, { batchSize: G, concurrency: 1 }),
        scoreRewards(ports.rewards, { batchSize: G, concurrency: 1 }),
        assembleGroups({ groupSize: G, onMemberError: config.stream.onMemberFailure, maxOpenGroups: config.stream.maxInFlightGroups }),
        collectEpoch(epoch),
        computeAdvantages({ stdScope: config.learner.advantageStd, epsilon: config.learner.advantageEpsilon, clip: config.learner.advantageClip }),
        tap((batch) => (summary = epochMetrics(batch))),
        recordRollouts(ports.recorder),
        phases(epoch),
        evaluate(ports.evaluator, { every: config.eval.every, epoch }),
        tap((report: Report) => {
          if (report.kind === "generator") {
            generatorSteps = [...generatorSteps, { ...report.stats }];
            append({ kind: "generator", epoch, step: policy.optimizer.stepCount, metrics: report.stats });
          } else if (report.kind === "discriminator") {
            discriminatorStats = { ...report.stats };
            append({ kind: "discriminator", epoch, metrics: report.stats });
          } else {
            evaluatedAfter = true;
            evaluationRecord(epoch + 1, report.metrics);
          }
        }),
        concatWith(defer(() => from(endOfEpoch()))),
      );
    };
    await lastValueFrom(forEachEpoch({ prompts, promptsPerEpoch: config.sampler.promptsPerEpoch, epochs: config.run.epochs, startEpoch, seed: config.run.seed }, epochStream), { defaultValue: undefined });
    writeRunReport(folder, configJson);
    return { folder, epochsCompleted, stoppedEarly, lastEvaluation, generatorSteps: policy.optimizer.stepCount, rolloutRows: log.rowsWritten };
  } finally {
    log.close();
    metrics.close();
    await remote?.close();
    await Promise.all([policy.release(), rewards.release(), evaluator.release()]);
  }
};
