/**
 * What a run's models are at an epoch boundary, shared by checkpoints (checkpoint.ts), resume and replay: the
 * generator's weights, EMA and AdamW state, and each discriminator head with its Adam state; plus the small
 * facts they must agree on (which heads learn in an epoch, how a batch names its patch draws).
 */
import { copyParamsInto } from "../optim/param-set.ts";
import { TrainingStateError, type TrainingState } from "../io/training-state.ts";
import type { Discriminator } from "../models/discriminator/discriminator.ts";
import type { PipelineConfig } from "./config/schema.ts";
import type { Policy } from "./policy.ts";
import type { RewardModel } from "./reward-model.ts";

export const captureState = (policy: Policy, rewards: RewardModel, metadata: Readonly<Record<string, string>> = {}): TrainingState => {
  const d = rewards.discriminator.exportState();
  const f = rewards.frozen?.exportState();
  return {
    weights: {
      generator: policy.params.map((p) => ({ ...p, data: p.data.slice() })),
      ...(policy.ema ? { "generator.ema": policy.ema.exportState() } : {}),
      discriminator: d.params,
      ...(f ? { frozen: f.params } : {}),
    },
    optimizers: { generator: policy.optimizer.exportState(), discriminator: d.optimizer, ...(f ? { frozen: f.optimizer } : {}) },
    metadata,
  };
};

export const applyState = (state: TrainingState, source: string, policy: Policy, rewards: RewardModel): void => {
  const set = (name: string) =>
    state.weights[name] ??
    (() => {
      throw new TrainingStateError({ file: source, field: `weight set '${name}'`, expected: "present (the run's pipeline builds it)", found: "missing" });
    })();
  copyParamsInto(policy.params, set("generator"), `${source} generator`);
  policy.optimizer.importState(state.optimizers.generator!);
  if (policy.ema && state.weights["generator.ema"]) policy.ema.importState(state.weights["generator.ema"]);
  rewards.discriminator.importState({ params: set("discriminator"), optimizer: state.optimizers.discriminator! });
  if (rewards.frozen) rewards.frozen.importState({ params: set("frozen"), optimizer: state.optimizers.frozen! });
};

/**
 * The heads a discriminator epoch steps, in order: the adversarial head; a frozen head only during warm-up,
 * and never one loaded from rewards[].checkpoint (it is frozen as trained).
 */
export const headsTrainedIn = (config: PipelineConfig, rewards: RewardModel, epoch: number): Discriminator[] => [
  ...(config.rewards.some((r) => r.kind === "adversarial-dino") ? [rewards.discriminator] : []),
  ...(epoch < config.discriminator.warmupEpochs && rewards.frozen && !config.rewards.some((r) => r.kind === "frozen-discriminator" && r.checkpoint !== undefined) ? [rewards.frozen] : []),
];

/** A sampler batch is one group, so (epoch, group) names its patch draws. */
export const batchLabel = (row: { readonly epoch: number; readonly groupId: number }): string => `${row.epoch}/${row.groupId}`;
