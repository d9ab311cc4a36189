/**
 * One training epoch as the chain of stage operators, prompts in, step and evaluation reports out:
 *
 *   prompts -> expand(G) -> sample -> features -> rewards -> groups -> epoch -> advantages -> record
 *           -> D:G schedule (discriminator step | generator steps) -> evaluation
 *
 * Replay (replay.ts) runs the same pieces on ports backed by the recorded rows.
 */
import { from, lastValueFrom, type OperatorFunction, tap, toArray } from "rxjs";
import type { RolloutKey, ScoredRollout } from "../rollout/rollout.ts";
import { assembleGroups } from "../stages/assembleGroups.ts";
import { collectEpoch } from "../stages/collectEpoch.ts";
import { computeAdvantages } from "../stages/computeAdvantages.ts";
import { dgSchedule } from "../stages/dgSchedule.ts";
import { discriminatorStep } from "../stages/discriminatorStep.ts";
import { evaluate } from "../stages/evaluate.ts";
import { expandGroup } from "../stages/expandGroup.ts";
import { extractFeatures } from "../stages/extractFeatures.ts";
import { learnerStep } from "../stages/learnerStep.ts";
import { recordRollouts } from "../stages/recordRollouts.ts";
import { sampleBatches } from "../stages/sampleBatches.ts";
import { scoreRewards } from "../stages/scoreRewards.ts";
import type { AdvantagedEpoch, DiscriminatorStepReport, EvaluationReport, GeneratorStepReport, Member, PromptItem } from "../stages/types.ts";
import type { Ports } from "./adapters.ts";
import type { PipelineConfig } from "./config/schema.ts";

type StepReport = GeneratorStepReport | DiscriminatorStepReport;
export type Report = StepReport | EvaluationReport;

/** Keys to scored rows, one group per port call; `samplingConcurrency` groups are sampled at once. */
export const scoredRollouts = (
  ports: Pick<Ports, "sampler" | "features" | "rewards">,
  groupSize: number,
  samplingConcurrency: number,
): OperatorFunction<Member<RolloutKey>, Member<ScoredRollout>> =>
  (keys) =>
    keys.pipe(
      sampleBatches(ports.sampler, { batchSize: groupSize, concurrency: samplingConcurrency }),
      extractFeatures(ports.features, { batchSize: groupSize, concurrency: 1 }),
      scoreRewards(ports.rewards, { batchSize: groupSize, concurrency: 1 }),
    );

/** One group's keys to its scored rows, as a rollout worker (a process or a thread) makes them for a learner. */
export const scoreGroup = async (ports: Pick<Ports, "sampler" | "features" | "rewards">, keys: readonly RolloutKey[], groupSize: number): Promise<ScoredRollout[]> => {
  const [group] = await lastValueFrom(
    from(keys).pipe(scoredRollouts(ports, groupSize, 1), assembleGroups({ groupSize, onMemberError: "fail", maxOpenGroups: 1 }), toArray()),
  );
  if (!group) throw new Error(`group ${keys[0]?.groupId} of epoch ${keys[0]?.epoch}: no rows came out`);
  return [...group];
};

/** Scored rows to the epoch's groups with their advantages. */
export const advantagedEpoch = (config: PipelineConfig, epoch: number, onMemberError = config.stream.onMemberFailure): OperatorFunction<Member<ScoredRollout>, AdvantagedEpoch> =>
  (rows) =>
    rows.pipe(
      assembleGroups({ groupSize: config.sampler.groupSize, onMemberError, maxOpenGroups: config.stream.maxInFlightGroups }),
      collectEpoch(epoch),
      computeAdvantages({ stdScope: config.learner.advantageStd, epsilon: config.learner.advantageEpsilon, clip: config.learner.advantageClip }),
    );

/** What the epoch's optimiser phase is: discriminator warm-up, generator only, or the D:G schedule. */
export const optimiserPhase = (config: PipelineConfig, ports: Pick<Ports, "discriminator" | "references" | "learner" | "referenceReward">, epoch: number): OperatorFunction<AdvantagedEpoch, StepReport> => {
  const dStep = discriminatorStep(ports.discriminator, ports.references);
  const gStep = learnerStep(ports.learner, { stepsPerEpoch: config.learner.stepsPerEpoch });
  if (epoch < config.discriminator.warmupEpochs) return dStep;
  if (!config.rewards.some((r) => r.kind === "adversarial-dino")) return gStep;
  const trigger = config.discriminator.trigger === "when-generated-exceeds-reference";
  return dgSchedule(trigger ? { mode: "trigger", referenceReward: ports.referenceReward } : { mode: "interval", dTimes: config.discriminator.dTimes }, { discriminator: dStep, generator: gStep });
};

interface EpochStagesOptions {
  readonly epoch: number;
  /** The generator's optimiser step count, stamped on every rollout key. */
  readonly policyVersion: () => number;
  /** Sampler batches (groups) in flight at once. */
  readonly samplingConcurrency: number;
  /** Sees the epoch's advantaged rollouts before they are recorded. */
  readonly onRollouts: (batch: AdvantagedEpoch) => void;
}

export const epochStages = (config: PipelineConfig, ports: Ports, o: EpochStagesOptions): OperatorFunction<PromptItem, Report> => {
  const G = config.sampler.groupSize;
  return (prompts$) =>
    prompts$.pipe(
      expandGroup({ runId: config.run.name, runSeed: config.run.seed, groupSize: G, policyVersion: o.policyVersion }),
      scoredRollouts(ports, G, o.samplingConcurrency),
      advantagedEpoch(config, o.epoch),
      tap(o.onRollouts),
      recordRollouts(ports.recorder),
      optimiserPhase(config, ports, o.epoch),
      evaluate(ports.evaluator, { every: config.eval.every, epoch: o.epoch }),
    );
};
