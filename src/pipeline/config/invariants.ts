/**
 * Rules that span several fields, checked on the resolved (merged, decoded) pipeline: a preset
 * combined with a child file can break them even when every field is valid on its own.
 */
import type { Path } from "./merge.ts";
import { objectiveInvariants } from "./objective-invariants.ts";
import type { Violation } from "./violation.ts";
import type { PipelineConfig } from "./schema.ts";

type Invariant = (config: PipelineConfig) => ReadonlyArray<Violation>;

const when = (broken: boolean, violation: Violation): ReadonlyArray<Violation> => (broken ? [violation] : []);

const windowFitsSteps: Invariant = ({ sampler }) =>
  when(sampler.window.start + sampler.window.size > sampler.steps, {
    path: ["sampler", "window"],
    problem: `the SDE window covers steps ${sampler.window.start}..${sampler.window.start + sampler.window.size - 1} but the sampler takes only ${sampler.steps} steps (0..${sampler.steps - 1})`,
    fix: `lower sampler.window.start or sampler.window.size, or raise sampler.steps to at least ${sampler.window.start + sampler.window.size}`,
  });

const cpsNoiseAtMostOne: Invariant = ({ sampler }) =>
  when(sampler.kind === "cps" && sampler.noiseLevel > 1, {
    path: ["sampler", "noiseLevel"],
    problem: `Flow-CPS takes its noise as sin(a * pi / 2), which needs a in [0, 1]; found ${sampler.noiseLevel}`,
    fix: "set sampler.noiseLevel to at most 1 (0.8 in the released code)",
  });

const onnxGeneratorHasPaths: Invariant = ({ generator }) => [
  ...when(generator.kind === "onnx" && generator.onnx === undefined, {
    path: ["generator", "onnx"],
    problem: "generator.kind is onnx but no model files are given",
    fix: "add generator.onnx.velocityModel and generator.onnx.textEmbeddings (or textEncoder and tokenizer), or set generator.kind: embedded",
  }),
  ...when(generator.kind === "embedded" && generator.onnx !== undefined, {
    path: ["generator", "onnx"],
    problem: "generator.onnx is given but generator.kind is embedded, so it would be ignored",
    fix: "set generator.kind: onnx to use these files, or remove generator.onnx",
  }),
];

const onnxGeneratorHasText: Invariant = ({ generator }) => {
  const o = generator.onnx;
  if (generator.kind !== "onnx" || !o) return [];
  return [
    ...when((o.textEmbeddings === undefined) === (o.textEncoder === undefined), {
      path: ["generator", "onnx"],
      problem: o.textEmbeddings === undefined ? "no text source: neither textEmbeddings nor textEncoder is given" : "both textEmbeddings and textEncoder are given",
      fix: "give exactly one of generator.onnx.textEmbeddings (a prompt-embeddings file) and generator.onnx.textEncoder (with tokenizer)",
    }),
    ...when((o.textEncoder === undefined) !== (o.tokenizer === undefined), {
      path: ["generator", "onnx", "tokenizer"],
      problem: o.tokenizer === undefined ? "generator.onnx.textEncoder needs its tokenizer" : "generator.onnx.tokenizer is given without a textEncoder, so it would be ignored",
      fix: o.tokenizer === undefined ? "set generator.onnx.tokenizer to the encoder's tokenizer.json" : "remove generator.onnx.tokenizer, or add generator.onnx.textEncoder",
    }),
    ...when(o.vaeDecoder === undefined && generator.latentChannels !== 3, {
      path: ["generator", "onnx", "vaeDecoder"],
      problem: `the generator samples ${generator.latentChannels}-channel latents but no VAE decoder turns them into images`,
      fix: "set generator.onnx.vaeDecoder to the model's VAE decoder export",
    }),
  ];
};

const onnxGeneratorTrainsAdapters: Invariant = ({ generator, learner }) =>
  when(generator.kind === "onnx" && learner.lora === undefined, {
    path: ["learner", "lora"],
    problem: "an imported ONNX generator keeps its weights frozen (initialisers, never fed per step), so without adapters nothing would train",
    fix: "add learner.lora (e.g. rank 32, alpha 64, targets [to_q, to_k, to_v, to_out.0])",
  });

const rewardKindsUnique: Invariant = ({ rewards }) =>
  rewards.flatMap((reward, index) =>
    when(rewards.findIndex((other) => other.kind === reward.kind) !== index, {
      path: ["rewards", index, "kind"],
      problem: `the reward component ${reward.kind} appears more than once; components are recorded by kind`,
      fix: `merge the ${reward.kind} entries into one and set its weight`,
    }),
  );

const rewardWeightsPositive: Invariant = ({ rewards }) =>
  when(rewards.reduce((sum, reward) => sum + reward.weight, 0) <= 0, {
    path: ["rewards"],
    problem: rewards.length === 0 ? "no reward components are listed" : "the reward weights sum to zero or less, so there is nothing to maximise",
    fix: "list at least one reward component with a positive weight, e.g. - kind: adversarial-dino",
  });

const frozenDiscriminatorIsTrained: Invariant = ({ rewards, discriminator }) =>
  rewards.flatMap((reward, index) =>
    when(reward.kind === "frozen-discriminator" && reward.checkpoint === undefined && discriminator.warmupEpochs === 0, {
      path: ["rewards", index],
      problem: "a frozen discriminator without a checkpoint would score with an untrained head",
      fix: `set rewards.${index}.checkpoint to a trained head, or discriminator.warmupEpochs above 0 to train it before freezing`,
    }),
  );

const weightPairPositive = (path: Path, sum: number, what: string): ReadonlyArray<Violation> =>
  when(sum <= 0, { path, problem: `the ${what} weights are all zero`, fix: `give ${path.join(".")} at least one positive weight` });

const discriminatorWeightsPositive: Invariant = ({ discriminator }) => [
  ...weightPairPositive(["discriminator", "lossWeights"], discriminator.lossWeights.global + discriminator.lossWeights.local, "discriminator loss"),
  ...weightPairPositive(["discriminator", "rewardWeights"], discriminator.rewardWeights.cls + discriminator.rewardWeights.patches, "discriminator reward"),
];

const optimiserStepsHaveGroups: Invariant = ({ learner, sampler }) =>
  when(learner.stepsPerEpoch > sampler.promptsPerEpoch, {
    path: ["learner", "stepsPerEpoch"],
    problem: `${learner.stepsPerEpoch} optimiser steps per epoch but an epoch makes only ${sampler.promptsPerEpoch} groups (one per prompt), and a step takes whole groups`,
    fix: `set learner.stepsPerEpoch to at most ${sampler.promptsPerEpoch}, or raise sampler.promptsPerEpoch`,
  });

const microBatchDividesGroup: Invariant = ({ learner, sampler }) =>
  when(learner.microBatch !== undefined && sampler.groupSize % learner.microBatch !== 0, {
    path: ["learner", "microBatch"],
    problem: `micro-batches of ${learner.microBatch} members do not divide a group of ${sampler.groupSize} (every slice must be the same size for the averaged gradients to be the group's)`,
    fix: `set learner.microBatch to a divisor of sampler.groupSize (${Array.from({ length: sampler.groupSize }, (_, i) => i + 1).filter((d) => sampler.groupSize % d === 0).join(", ")})`,
  });

const emaEvaluationNeedsEma: Invariant = ({ eval: evaluation, learner }) =>
  when(evaluation.useEma && !learner.ema.enabled, {
    path: ["eval", "useEma"],
    problem: "evaluation asks for EMA weights but learner.ema.enabled is false",
    fix: "set learner.ema.enabled: true, or eval.useEma: false",
  });

const userPromptsHaveUserReferences: Invariant = ({ prompts, references }) =>
  when(prompts.train !== "embedded" && references.source === "embedded", {
    path: ["references", "source"],
    problem: "the embedded references are renders of the shapes world's prompts, but prompts.train is a prompt file",
    fix: "set references.source to a folder of style images (or a manifest pairing your prompts with images)",
  });

const policyLagNeedsRecordedOldPolicy: Invariant = ({ learner }) =>
  when(learner.maxPolicyLag > 0 && (learner.objective === "nft" || learner.ratioNormalisation === "grpo-guard"), {
    path: ["learner", "maxPolicyLag"],
    problem: `a policy lag of ${learner.maxPolicyLag} learns on rows sampled by weights the learner no longer holds, but ${learner.objective === "nft" ? "the nft objective" : "GRPO-Guard's ratio normalisation"} needs those weights themselves (only the recorded sampling log-probs are kept)`,
    fix: "set learner.maxPolicyLag: 0, or use objective grpo without ratioNormalisation (or awm)",
  });

const invariants: ReadonlyArray<Invariant> = [
  policyLagNeedsRecordedOldPolicy,
  userPromptsHaveUserReferences,
  windowFitsSteps,
  cpsNoiseAtMostOne,
  onnxGeneratorHasPaths,
  onnxGeneratorHasText,
  onnxGeneratorTrainsAdapters,
  rewardKindsUnique,
  rewardWeightsPositive,
  frozenDiscriminatorIsTrained,
  discriminatorWeightsPositive,
  optimiserStepsHaveGroups,
  microBatchDividesGroup,
  emaEvaluationNeedsEma,
  objectiveInvariants,
];

export const checkInvariants = (config: PipelineConfig): ReadonlyArray<Violation> => invariants.flatMap((invariant) => invariant(config));
