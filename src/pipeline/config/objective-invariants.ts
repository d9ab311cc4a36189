/** Rules tying learner.objective to the sampler it trains on (docs/objectives.md). */
import type { Violation } from "./violation.ts";
import type { PipelineConfig } from "./schema.ts";

const when = (broken: boolean, violation: Violation): ReadonlyArray<Violation> => (broken ? [violation] : []);

export const objectiveInvariants = ({ learner, sampler }: PipelineConfig): ReadonlyArray<Violation> => [
  ...when(learner.objective === "grpo" && sampler.kind === "ode", {
    path: ["sampler", "kind"],
    problem: "GRPO trains on the log-probabilities of stochastic steps, and the ODE sampler has none",
    fix: "set sampler.kind: cps or sde, or learner.objective: nft or awm",
  }),
  ...when(learner.objective === "grpo" && learner.guidance === "none" && sampler.cfgWeight !== 1, {
    path: ["learner", "guidance"],
    problem: `GRPO recomputes the log-probs of the velocity that sampled, which used CFG ${sampler.cfgWeight}; a CFG-free loss would be off-policy from the first step`,
    fix: "set sampler.cfgWeight: 1 for CFG-free GRPO (sampling and training), or learner.guidance: as-sampled",
  }),
  ...when(learner.ratioNormalisation === "grpo-guard" && learner.objective !== "grpo", {
    path: ["learner", "ratioNormalisation"],
    problem: `GRPO-Guard normalises importance ratios, which ${learner.objective} does not have`,
    fix: "set learner.ratioNormalisation: none, or learner.objective: grpo",
  }),
  ...when(learner.ratioNormalisation === "grpo-guard" && sampler.kind === "cps" && sampler.logProb === "released", {
    path: ["learner", "ratioNormalisation"],
    problem: "RatioNorm corrects the bias of a Gaussian log-density ratio; the released Flow-CPS log-prob is an unscaled squared error",
    fix: "set sampler.logProb: gaussian (and re-tune learner.clipRange), or sampler.kind: sde",
  }),
  ...when(learner.objective === "nft" && learner.nft.timesteps > sampler.steps, {
    path: ["learner", "nft", "timesteps"],
    problem: `${learner.nft.timesteps} training times per rollout are drawn without replacement from only ${sampler.steps} schedule steps`,
    fix: `set learner.nft.timesteps to at most ${sampler.steps}`,
  }),
  ...when(learner.objective === "awm" && Math.floor(learner.awm.timestepFraction * sampler.steps) <= 1, {
    path: ["learner", "awm", "timestepFraction"],
    problem: `steps 1 .. floor(${learner.awm.timestepFraction} * ${sampler.steps}) leave no schedule step to train at`,
    fix: "raise learner.awm.timestepFraction or sampler.steps",
  }),
];
