/**
 * `advgrpo run`: the Adv-GRPO loop, one epoch at a time through the stage operators (epoch-stages.ts), on the
 * models and ports the composition root builds (training-run.ts); this module only streams. Every epoch ends
 * with a checkpoint holding everything a resume needs (checkpoint.ts, resume.ts); metrics.jsonl gets each step
 * and epoch (epoch-metrics.ts), the console one line per epoch and evaluation (console-text.ts).
 */
import { concatWith, defer, EMPTY, from, lastValueFrom, type Observable, tap } from "rxjs";
import { openMetricsLog, readMetricsLog, type MetricRecord } from "../report/metrics-log.ts";
import { abortWhen } from "../stages/abortWhen.ts";
import { forEachEpoch } from "../stages/forEachEpoch.ts";
import type { PromptItem } from "../stages/types.ts";
import { writeCheckpoint } from "./checkpoint.ts";
import { withRun } from "./compose.ts";
import { resolvedConfigJson } from "./config/canonical-json.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { epochLine, learnerMemoryLine } from "./console-text.ts";
import { EpochTally, residentMB } from "./epoch-metrics.ts";
import { epochStages, type Report } from "./epoch-stages.ts";
import { writeRunReport } from "./report.ts";
import { startingPoint } from "./resume.ts";
import { suspendAtCheckpoint } from "./suspend.ts";
import { NatsGone } from "../distributed/errors.ts";
import { acquireRunLock } from "./run-lock.ts";
import { createRunFolder, type RunFolder } from "./run-folder.ts";
import { lastEvaluationIn, RunEvaluations } from "./run-evaluations.ts";
import { buildTrainingRun, type TrainingRun } from "./training-run.ts";

export interface RunOptions {
  readonly resume: boolean;
  /** Progress lines (one per epoch and per evaluation). */
  readonly progress: (line: string) => void;
  /** Checked between epochs: true stops the run cleanly after a checkpoint. */
  readonly stopRequested: () => boolean;
  /** Epochs completed of run.epochs: once before the first epoch (a resume starts past 0), then after each. */
  readonly epochsDone?: (done: number, total: number) => void;
}

export interface RunSummary {
  readonly folder: RunFolder;
  readonly epochsCompleted: number;
  readonly stoppedEarly: boolean;
  readonly lastEvaluation: Readonly<Record<string, number>> | undefined;
  readonly generatorSteps: number;
  readonly rolloutRows: number;
  /** Why the run stopped before run.epochs (eval.stopOnRewardHacking, NATS gone), when it did. */
  readonly stopReason?: string;
  /** Stopped for a reason outside the run (NATS stayed away): nothing failed, `--resume` continues. */
  readonly suspended?: boolean;
}

export const runTraining = async (config: PipelineConfig, folder: RunFolder, options: RunOptions): Promise<RunSummary> => {
  createRunFolder(folder);
  const lock = acquireRunLock(folder.root, "run");
  if (lock.tookOverFrom) options.progress(`took over ${lock.file} from ${lock.tookOverFrom}, which is no longer running`);
  try {
    return await trainLocked(config, folder, options);
  } finally {
    lock.release();
  }
};

const trainLocked = async (config: PipelineConfig, folder: RunFolder, options: RunOptions): Promise<RunSummary> => {
  const configJson = resolvedConfigJson(config);
  const resumed = await startingPoint(folder, options.resume, configJson, options.progress);
  const outcome = await withRun(buildTrainingRun(config, { folder, configJson, resumed, progress: options.progress }), (run) =>
    trainEpochs(run, { folder, configJson, startEpoch: resumed?.startEpoch, options }),
  );
  return outcome instanceof NatsGone ? suspendedSummary(folder, configJson, outcome, options.progress) : outcome;
};

interface EpochsContext {
  readonly folder: RunFolder;
  readonly configJson: string;
  /** Where a resumed run continues; undefined for a fresh start. */
  readonly startEpoch: number | undefined;
  readonly options: RunOptions;
}

/** What the epochs leave behind for the summary, and the end-of-epoch work (evaluation, checkpoint) in flight. */
interface EpochsState {
  epochsCompleted: number;
  stoppedEarly: boolean;
  ending: Promise<void>;
}

/**
 * One epoch's stream: its stages, each report tallied, then its end (console line, the last evaluation, the
 * checkpoint). An epoch asked to stop, or after a reward-hacking stop, is empty and ends the run.
 */
const epochStreams = (run: TrainingRun, c: EpochsContext, evaluations: RunEvaluations, append: (record: MetricRecord) => void, state: EpochsState) => {
  const { config, policy, evaluator, ports, samplingConcurrency, clock, log } = run;
  const { options } = c;
  const checkpoint = { folder: c.folder, policy, rewards: run.rewards, configJson: c.configJson, keep: config.run.keepCheckpoints };
  return (prompts$: Observable<PromptItem>, epoch: number): Observable<unknown> => {
    if (options.stopRequested() || evaluations.stopReason !== undefined) {
      state.stoppedEarly = true;
      return EMPTY;
    }
    const started = performance.now();
    const tally = new EpochTally(epoch, append);
    let evaluatedAfter = false;
    const endOfEpoch = async () => {
      const seconds = (performance.now() - started) / 1000;
      const timings = clock.take();
      const rss = residentMB();
      tally.close(seconds, timings, rss);
      options.progress(epochLine(tally, config.run.epochs, seconds, timings, rss));
      if (epoch + 1 === config.run.epochs && !evaluatedAfter) evaluations.record(epoch + 1, await evaluator.evaluate(epoch + 1));
      await writeCheckpoint(checkpoint, epoch, log.rowsWritten);
      state.epochsCompleted = epoch + 1;
      options.epochsDone?.(state.epochsCompleted, config.run.epochs);
    };
    return prompts$.pipe(
      epochStages(config, ports, {
        epoch,
        policyVersion: () => policy.optimizer.stepCount,
        samplingConcurrency,
        onRollouts: (batch) => tally.rollouts(batch),
      }),
      tap((report: Report) => {
        if (report.kind === "generator") tally.generator(report.stats, policy.optimizer.stepCount);
        else if (report.kind === "discriminator") tally.discriminator(report.stats);
        else {
          evaluatedAfter = true;
          evaluations.record(epoch + 1, report.metrics);
        }
      }),
      concatWith(defer(() => from((state.ending = endOfEpoch())))),
    );
  };
};

/** The run's epochs on its built models and ports; a distributed run whose NATS stayed away ends with that fault. */
const trainEpochs = async (run: TrainingRun, c: EpochsContext): Promise<RunSummary | NatsGone> => {
  const { config, prompts, policy, evaluator, log, rolloutFault } = run;
  const { folder, configJson, options } = c;
  options.progress(learnerMemoryLine(policy.learnerMemory, config.sampler.groupSize));
  const metrics = openMetricsLog(folder.root);
  const append = (record: MetricRecord) => metrics.append(record);
  const evaluations = new RunEvaluations({ config, folder, configJson, append, progress: options.progress }, c.startEpoch !== undefined);
  const startEpoch = c.startEpoch ?? 0;
  const state: EpochsState = { epochsCompleted: startEpoch, stoppedEarly: false, ending: Promise.resolve() };
  try {
    if (c.startEpoch === undefined) evaluations.record(0, await evaluator.evaluate(0));
    options.epochsDone?.(startEpoch, config.run.epochs);
    const source = { prompts, promptsPerEpoch: config.sampler.promptsPerEpoch, epochs: config.run.epochs, startEpoch, seed: config.run.seed };
    const epochs = forEachEpoch(source, epochStreams(run, c, evaluations, append, state));
    await lastValueFrom(rolloutFault ? epochs.pipe(abortWhen(rolloutFault.fault$)) : epochs, { defaultValue: undefined });
    const { stopReason } = evaluations;
    writeRunReport(folder, configJson, stopReason);
    const { epochsCompleted, stoppedEarly } = state;
    return { folder, epochsCompleted, stoppedEarly, lastEvaluation: evaluations.last, generatorSteps: policy.optimizer.stepCount, rolloutRows: log.rowsWritten, ...(stopReason ? { stopReason } : {}) };
  } catch (error) {
    // A fault of the distributed run surfaces as whatever the stage that met it made of it: report the fault.
    const fault = rolloutFault?.failure();
    if (!fault) throw error;
    if (!(fault instanceof NatsGone)) throw fault;
    await state.ending.catch(() => {}); // a checkpoint being written when the fault came is kept
    return fault;
  } finally {
    metrics.close();
  }
};

/** NATS stayed away: with the logs closed (the run's scope has ended), the run keeps what is complete. */
const suspendedSummary = async (folder: RunFolder, configJson: string, fault: NatsGone, progress: (line: string) => void): Promise<RunSummary> => {
  const suspended = await suspendAtCheckpoint(folder, configJson, fault, progress);
  progress(suspended.reason);
  writeRunReport(folder, configJson, suspended.reason);
  return {
    folder,
    epochsCompleted: suspended.epochsCompleted,
    stoppedEarly: true,
    lastEvaluation: lastEvaluationIn(folder),
    generatorSteps: readMetricsLog(folder.root).records.filter((r) => r.kind === "generator").length,
    rolloutRows: suspended.rolloutRows,
    stopReason: suspended.reason,
    suspended: true,
  };
};
