/**
 * Rewards from the discriminator head. The adversarial reward scores with a head that the loop keeps
 * training (references positive, samples negative); the frozen one with a head that is never updated
 * after its warm-up, the "fixed learned reward" baseline Adv-GRPO argues gets hacked. Scoring is the same.
 */
import type { Scores, ScoredTokens } from "../models/discriminator/discriminator.ts";
import { requireField, type RewardComponent } from "./reward.ts";

/** What a reward needs from a discriminator: scoring only, so a frozen one cannot be stepped through it. */
interface DiscriminatorScorer {
  score(tokens: ScoredTokens): Promise<Scores>;
}

const discriminatorReward = (name: string, scorer: DiscriminatorScorer): RewardComponent => ({
  name,
  score: async (batch) => {
    const known = batch.headScores?.get(scorer);
    if (known) return known.reward;
    const features = requireField(name, batch, "features");
    const patchIndices = requireField(name, batch, "patchIndices");
    return (await scorer.score({ features, patchIndices })).reward;
  },
});

export const adversarialDinoReward = (scorer: DiscriminatorScorer, name = "adversarial-dino"): RewardComponent => discriminatorReward(name, scorer);

export const frozenDiscriminatorReward = (scorer: DiscriminatorScorer, name = "frozen-discriminator"): RewardComponent => discriminatorReward(name, scorer);
