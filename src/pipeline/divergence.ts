/**
 * Divergence is loud. Every model output the loop consumes (reward components, discriminator logits, step
 * statistics) and every trained weight after a step is checked: a NaN, an infinity or a magnitude past
 * LIMIT stops the run with the tensor, the epoch and step, and the pipeline field most likely responsible.
 * The check sits on the ports, so it fires inside the epoch, before that epoch's checkpoint: the last
 * checkpoint on disk is the last good state.
 *
 * LIMIT: rewards are weighted sums of discriminator logits (hinge-trained towards +-1) and similarities in
 * [-1, 1], step statistics are losses, ratios and norms of a clipped update, weights of trained networks
 * stay within small multiples of their initialisation; a million in any of them means the run has blown up.
 */
import { Schema } from "effect";
import { map, type Observable } from "rxjs";
import type { ParamSet } from "../optim/param-set.ts";
import type { DiscriminatorPort, LearnerPort, RewardPort, StepStats } from "../stages/ports.ts";
import type { PipelineConfig } from "./config/schema.ts";

const LIMIT = 1e6;

class TrainingDiverged extends Schema.TaggedError<TrainingDiverged>()("TrainingDiverged", {
  /** What held the value: "reward component 'adversarial-dino' of group 3 member 1", "discriminator weight 'w1'". */
  tensor: Schema.String,
  value: Schema.Number,
  epoch: Schema.Number,
  /** The generator's optimiser step count when it happened. */
  step: Schema.Number,
  field: Schema.String,
}) {
  override get message() {
    const what = Number.isFinite(this.value) ? `${this.value.toExponential(2)}, beyond ${LIMIT.toExponential(0)}` : String(this.value);
    return (
      `training diverged in epoch ${this.epoch + 1} (generator step ${this.step}): ${this.tensor} is ${what}. ` +
      `Most likely responsible: ${this.field}. The checkpoints written before this epoch are intact; lower ${this.field} and start again under another run.name.`
    );
  }
}

const bad = (value: number): boolean => !(Math.abs(value) <= LIMIT);

interface Context {
  readonly config: PipelineConfig;
  /** The generator's optimiser step count. */
  readonly generatorStep: () => number;
}

/** The reward field a component's value depends on most. */
const rewardField = (config: PipelineConfig, component: string): string => {
  const index = config.rewards.findIndex((r) => r.kind === component);
  const reward = config.rewards[index];
  if (reward?.kind === "adversarial-dino") return "discriminator.lr";
  if (reward?.kind === "frozen-discriminator") return reward.checkpoint === undefined ? "discriminator.lr" : `rewards[${index}].checkpoint`;
  if (reward?.kind === "dino-similarity") return "features.backbone";
  return index >= 0 ? `rewards[${index}]` : "rewards";
};

const checkStats = (stats: StepStats, who: string, epoch: number, c: Context, field: string): void => {
  for (const [name, value] of Object.entries(stats)) {
    if (bad(value)) throw new TrainingDiverged({ tensor: `${who} step statistic '${name}'`, value, epoch, step: c.generatorStep(), field });
  }
};

const checkWeights = (params: ParamSet, who: string, epoch: number, step: number, field: string): void => {
  for (const tensor of params) {
    const at = tensor.data.findIndex(bad);
    if (at >= 0) throw new TrainingDiverged({ tensor: `${who} weight '${tensor.name}'[${at}]`, value: tensor.data[at]!, epoch, step, field });
  }
};

/** Weights as loaded must be finite: a run started from a NaN checkpoint fails naming it, before it samples. */
export const requireSaneWeights = (params: ParamSet, who: string, field: string): void =>
  checkWeights(params, who, 0, 0, field);

interface Guarded {
  readonly rewards: RewardPort;
  readonly learner: LearnerPort;
  readonly discriminator: DiscriminatorPort;
}

/**
 * The ports with their results checked. `weights` gives the sets a step trains: the generator's, and the
 * discriminator heads' (the adversarial head and, during warm-up, the frozen one).
 */
export const guardDivergence = (
  config: PipelineConfig,
  ports: Guarded,
  weights: { readonly generator: () => ParamSet; readonly discriminators: () => readonly ParamSet[] },
  generatorStep: () => number,
): Guarded => {
  const c: Context = { config, generatorStep };
  return {
    rewards: {
      score: (rows) =>
        ports.rewards.score(rows).pipe(
          map((scores) => {
            scores.forEach((score, i) => {
              const row = rows[i]!;
              const where = `of group ${row.groupId} member ${row.member}`;
              const fail = (tensor: string, value: number, field: string) => {
                // A bad reward from a generator that already holds bad weights is the generator's doing:
                // before any step, its checkpoint; after, its learning rate.
                checkWeights(weights.generator(), "generator", row.epoch, generatorStep(), generatorStep() === 0 ? "generator.checkpoint" : "learner.lr");
                return new TrainingDiverged({ tensor: `${tensor} ${where}`, value, epoch: row.epoch, step: generatorStep(), field });
              };
              for (const [component, value] of Object.entries(score.rewards)) if (bad(value)) throw fail(`reward component '${component}'`, value, rewardField(config, component));
              if (bad(score.reward)) throw fail("the total reward", score.reward, "rewards[].weight");
              // NaN logits mean "no discriminator scored this row"; infinite or huge ones mean a blown-up head.
              for (const [name, value] of [["discLogitCls", score.discLogitCls], ["discLogitPatch", score.discLogitPatch]] as const) {
                if (!Number.isNaN(value) && bad(value)) throw fail(`discriminator logit '${name}'`, value, "discriminator.lr");
              }
            });
            return scores;
          }),
        ),
    },
    learner: {
      step: (groups): Observable<StepStats> =>
        ports.learner.step(groups).pipe(
          map((stats) => {
            const epoch = groups[0]?.[0]?.epoch ?? -1;
            checkStats(stats, "generator", epoch, c, "learner.lr");
            checkWeights(weights.generator(), "generator", epoch, generatorStep(), "learner.lr");
            return stats;
          }),
        ),
    },
    discriminator: {
      step: (batch): Observable<StepStats> =>
        ports.discriminator.step(batch).pipe(
          map((stats) => {
            checkStats(stats, "discriminator", batch.epoch, c, "discriminator.lr");
            for (const head of weights.discriminators()) checkWeights(head, "discriminator", batch.epoch, generatorStep(), "discriminator.lr");
            return stats;
          }),
        ),
    },
  };
};
