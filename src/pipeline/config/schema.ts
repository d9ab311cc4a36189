/**
 * The pipeline file: every number a user tunes, with the default docs/algorithm.md §10 gives (paper and
 * released-code values for the algorithm's knobs; small sizes for the embedded world and compute).
 * pipelines/default.yaml overrides what the 2-core embedded default needs.
 */
import { Effect, Schema, SchemaGetter } from "effect";
import {
  Betas,
  BoundedInt,
  NonEmptyString,
  NonNegativeInt,
  NonNegativeNumber,
  PositiveInt,
  PositiveNumber,
  Probability,
  field,
  optionalField,
  requiredField,
  section,
} from "./field.ts";

const Run = section("What this run is called, where it writes, and how long it lasts.", {
  name: field(
    NonEmptyString.check(
      Schema.isPattern(/^(?!\.\.?$)[^/\\\0]+$/, { expected: "a folder name without /, \\ or NUL that is not . or .. (the run folder must stay inside run.outputDir)" }),
    ),
    { description: "Run name; the run folder is outputDir/name, so it is one folder name (no separators, not . or ..).", default: "adv-grpo" },
  ),
  outputDir: field(NonEmptyString, {
    description: "Folder holding run folders (Arrow logs, checkpoints, report), relative to the working directory.",
    unit: "path",
    default: "runs",
  }),
  seed: field(NonNegativeInt, { description: "Root seed: prompt order, initial noise, SDE noise and patch draws all derive from it.", unit: "integer seed", default: 0 }),
  epochs: field(BoundedInt(1, 1000000, "run time and the metrics log grow with it"), {
    description: "Total epochs, discriminator-only and generator epochs together (see discriminator.dTimes). At most 1000000: run time and the metrics log grow with it.",
    unit: "epochs",
    default: 100,
  }),
  resume: field(Schema.Boolean, { description: "Continue from the latest checkpoint in the run folder if there is one.", default: false }),
  keepCheckpoints: field(NonNegativeInt, {
    description: "End-of-epoch checkpoints kept in the run folder, newest first; 0 keeps all (replaying an epoch needs the checkpoint written before it).",
    unit: "checkpoints",
    default: 3,
  }),
});

const ExecutionProvider = Schema.Literals(["cpu", "cuda", "tensorrt", "webgpu"]);

const Compute = section("How ONNX Runtime executes: providers and threads.", {
  executionProviders: field(Schema.NonEmptyArray(ExecutionProvider), {
    description: "ONNX Runtime execution providers in order of preference, e.g. [cuda, cpu]; the CPU provider is the tested path.",
    default: ["cpu"],
  }),
  intraOpThreads: field(BoundedInt(0, 1024, "each thread is an OS thread per session"), { description: "Threads per ONNX Runtime session (0 lets ONNX Runtime choose). At most 1024: each thread is an OS thread per session.", unit: "threads", default: 2 }),
  allowSpinning: field(Schema.Boolean, {
    description: "Let idle ONNX Runtime threads spin; off measured faster on 2 cores.",
    default: false,
  }),
  shareImportedWeights: field(Schema.Boolean, {
    description:
      "An imported generator's policy graphs (sampling, evaluation, learning) read one read-only mapping of its weights file, ONNX Runtime's weight prepacking off; false = each CPU session prepacks a copy of its own: about 3x the weights in memory, MatMuls faster (the LoRA loss step of a 2-block SD3.5-shaped model took 1.23-1.27x the CPU time without prepacking; npm run bench -- weights). GPU providers copy the weights to the device per session either way.",
    default: true,
  }),
});

const tensorName = (role: string) => optionalField(NonEmptyString, { description: `The file's name for the ${role}.`, whenAbsent: "the contract's name" });

const GeneratorNames = Schema.Struct({
  latents: tensorName("latents input [B, C, H, W]"),
  sigma: tensorName("sigma input [B]"),
  timestep: tensorName("timestep input [B] (sigma * timestepScale)"),
  text: tensorName("per-token text embeddings input [B, T, D]"),
  pooled: tensorName("pooled text embedding input [B, D']"),
  velocity: tensorName("velocity output [B, C, H, W]"),
}).annotate({ description: "The velocity model's tensor names, for a file that uses neither the project's contract names nor HF optimum's." });

const OnnxGenerator = Schema.Struct({
  velocityModel: requiredField(NonEmptyString, {
    description:
      "ONNX velocity model (e.g. diffusers' SD3Transformer2DModel exported by HF optimum, external data beside it): inputs latents, timestep (or sigma) and text embeddings, output the velocity. Its weights stay frozen; learner.lora trains adapters on it.",
    unit: "path",
  }),
  names: optionalField(GeneratorNames, {
    description: "An explicit mapping of the velocity model's tensor names.",
    whenAbsent: "HF optimum's names (hidden_states, timestep, encoder_hidden_states, pooled_projections -> out_hidden_states) when the file has hidden_states, else the contract's (latents, sigma or timestep, text_embeds, pooled_embeds -> velocity)",
  }),
  timestepScale: field(PositiveNumber, {
    description: "The model's timestep input is sigma * timestepScale (1000 for networks trained on integer timesteps, 1 for sigma inputs).",
    unit: "timestep units per sigma",
    default: 1000,
  }),
  float16Weights: field(Schema.Literals(["widen", "keep"]), {
    description:
      "fp16 weights of the velocity model and the VAE decoder: widen = decoded to fp32 at import (4 bytes a weight in every policy graph and in the scratch weight file); keep = held as fp16 initialisers (2 bytes a weight), each cast to fp32 where it is used, so the arithmetic is fp32 either way and the results are the same bit for bit; the cast runs every step, and the learner's backward pass casts again rather than keeping fp32 copies. bf16 weights are widened either way.",
    default: "widen",
  }),
  textEmbeddings: optionalField(NonEmptyString, {
    description:
      "Prompt embeddings computed ahead (safetensors: prompt_embeds [N,T,D], pooled_prompt_embeds [N,D'], negative_prompt_embeds and negative_pooled_prompt_embeds of the empty prompt, the prompts in metadata 'prompts'; the README shows how to write it with diffusers' encode_prompt). Every training and held-out prompt must be in it.",
    whenAbsent: "textEncoder embeds the prompts",
  }),
  textEncoder: optionalField(NonEmptyString, {
    description: "CLIP-style ONNX text encoder (input_ids -> last_hidden_state and text_embeds or pooler_output), run on every prompt; needs tokenizer.",
    whenAbsent: "textEmbeddings gives the embeddings",
  }),
  tokenizer: optionalField(NonEmptyString, {
    description: "The text encoder's tokenizer.json (tokenizer_config.json beside it is read too).",
    whenAbsent: "only allowed without textEncoder",
  }),
  maxTextLength: field(BoundedInt(1, 512, "the text embeddings of every transition are fed per step"), {
    description: "Tokens per prompt for textEncoder: prompts are truncated and padded to it (77 for CLIP). At most 512: the text embeddings of every transition are fed per step.",
    unit: "tokens",
    default: 77,
  }),
  vaeDecoder: optionalField(NonEmptyString, {
    description: "ONNX VAE decoder (latent_sample [B,C,h,w] -> sample [B,3,H,W] in [-1,1]) turning sampled latents into the images the rewards see.",
    whenAbsent: "the latents are the images (a pixel-space generator, latentChannels 3)",
  }),
  scalingFactor: field(PositiveNumber, {
    description: "The VAE's scaling factor: latents / scalingFactor + shiftFactor go into the decoder (SD3: 1.5305).",
    unit: "dimensionless",
    default: 1.5305,
  }),
  shiftFactor: field(Schema.Finite, { description: "The VAE's shift factor (SD3: 0.0609).", unit: "latent units", default: 0.0609 }),
  decodeBatch: field(BoundedInt(1, 64, "decoder activations grow with it"), {
    description: "Latents decoded per VAE run. At most 64: decoder activations grow with it.",
    unit: "latents",
    default: 4,
  }),
}).annotate({ description: "An external (e.g. SD3-style) generator exported to ONNX." });

const Generator = section("The flow-matching text-to-image generator being fine-tuned.", {
  kind: field(Schema.Literals(["embedded", "onnx"]), {
    description: "embedded: the project's small velocity network; onnx: an external export described by generator.onnx.",
    default: "embedded",
  }),
  checkpoint: field(NonEmptyString, {
    description: "Weights (.safetensors) the embedded generator starts from; embedded = the committed pretrained weights.",
    unit: "path or \"embedded\"",
    default: "embedded",
  }),
  sampleSize: field(BoundedInt(1, 1024, "latent memory grows with its square"), { description: "Height = width of the sampled latent. At most 1024: latent memory grows with its square.", unit: "latent pixels", default: 32 }),
  latentChannels: field(BoundedInt(1, 256, "latent memory grows with it"), { description: "Channels of the sampled latent (3 for a pixel-space generator). At most 256: latent memory grows with it.", unit: "channels", default: 3 }),
  onnx: optionalField(OnnxGenerator, { description: "Paths of an external generator.", whenAbsent: "kind must be embedded" }),
});

const SamplerKind = Schema.Literals(["cps", "sde", "ode"]);
/** docs/algorithm.md §2: each sampler has its own default noise level. */
const defaultNoiseLevel = { cps: 0.8, sde: 0.7, ode: 0 } as const;

const samplerFields = {
  kind: field(SamplerKind, {
    description:
      "Rollout sampler: cps = Flow-CPS (released Adv-GRPO code), sde = Flow-SDE (Flow-GRPO), ode = deterministic Euler (nft and awm only: GRPO needs a stochastic window's log-probs).",
    default: "cps",
  }),
  steps: field(BoundedInt(1, 1000, "every step of every rollout is recorded"), { description: "Sampling steps N of a training rollout. At most 1000: every step of every rollout is recorded.", unit: "steps", default: 10 }),
  shift: field(PositiveNumber, { description: "Sigma schedule shift s (3 for SD3.5, 1 = unshifted).", unit: "dimensionless", default: 3 }),
  window: section("The SDE window: which steps are stochastic and trained; all others are ODE steps.", {
    start: field(NonNegativeInt, { description: "First stochastic step (0 = noisiest).", unit: "step index", default: 0 }),
    size: field(PositiveInt, { description: "Number W of stochastic, trained steps.", unit: "steps", default: 2 }),
  }),
  cfgWeight: field(NonNegativeNumber, { description: "Classifier-free guidance weight w in v_u + w (v_c - v_u).", unit: "dimensionless", default: 4.5 }),
  groupSize: field(
    Schema.Int.check(
      Schema.isGreaterThanOrEqualTo(2, {
        expected: "a group size of at least 2 (rewards are normalised into advantages within a group; 16 in the paper)",
      }),
      Schema.isLessThanOrEqualTo(1024, { expected: "a group size of at most 1024 (a group's rollouts are held in memory together)" }),
    ),
    { description: "Samples per prompt G (advantages are normalised within a prompt's group). At most 1024: a group's rollouts are held in memory together.", unit: "samples", default: 16 },
  ),
  promptsPerEpoch: field(BoundedInt(1, 65536, "an epoch's rollouts are held in memory until the advantages are computed"), { description: "Prompts sampled per epoch; an epoch makes promptsPerEpoch * groupSize rollouts. At most 65536: an epoch's rollouts are held in memory until the advantages are computed.", unit: "prompts", default: 8 }),
  evalSteps: field(BoundedInt(1, 10000, "evaluation time grows with it"), { description: "Euler ODE steps when sampling for evaluation. At most 10000: evaluation time grows with it.", unit: "steps", default: 40 }),
  logProb: field(Schema.Literals(["released", "gaussian"]), {
    description:
      "Flow-CPS log-prob form: released = -mean (x' - mean)^2 as in the released code; gaussian = the scaled Gaussian log-density (re-tune learner.clipRange). Flow-SDE is always Gaussian.",
    default: "released",
  }),
};

const SamplerFile = Schema.Struct({
  ...samplerFields,
  noiseLevel: optionalField(NonNegativeNumber, {
    description: "Noise level a of the stochastic sampler (0 turns both samplers into the ODE).",
    unit: "dimensionless",
    whenAbsent: "0.8 for cps, 0.7 for sde, 0 for ode",
  }),
}).annotate({ description: "The stochastic sampler that produces rollouts with log-probabilities." });
const SamplerResolved = Schema.Struct({ ...samplerFields, noiseLevel: NonNegativeNumber });

/** The noise level's default depends on the sampler kind, so it is filled after the other fields decode. */
const Sampler = SamplerFile.pipe(
  Schema.decodeTo(Schema.toType(SamplerResolved), {
    decode: SchemaGetter.transform((sampler) => ({ ...sampler, noiseLevel: sampler.noiseLevel ?? defaultNoiseLevel[sampler.kind] })),
    encode: SchemaGetter.passthrough(),
  }),
  Schema.withDecodingDefaultKey(Effect.succeed({})),
);

const World = section("The embedded procedural shapes world (prompts, renders, held-out split).", {
  imageSize: field(BoundedInt(1, 1024, "image memory grows with its square"), { description: "Height = width of rendered images. At most 1024: image memory grows with its square.", unit: "pixels", default: 32 }),
  referenceStyle: field(Schema.Literals(["shaded", "striped"]), {
    description:
      "Which reference rendering plays the paper's high-quality references: shaded (outline, radial shading, vignette) or striped (two-tone stripes, background gradient).",
    default: "shaded",
  }),
});

const Prompts = section("Where prompts come from.", {
  train: field(NonEmptyString, {
    description: "Training prompts: a text file with one prompt per line, or embedded = the shapes world's prompt grammar.",
    unit: "path or \"embedded\"",
    default: "embedded",
  }),
  heldOut: field(NonEmptyString, {
    description: "Evaluation prompts never trained on: a text file with one prompt per line, or embedded = the shapes world's held-out split.",
    unit: "path or \"embedded\"",
    default: "embedded",
  }),
});

const References = section("The reference images: positives of the discriminator and targets of similarity rewards.", {
  source: field(NonEmptyString, {
    description:
      "A folder with a prompt -> files JSON manifest (manifest.json), the manifest file itself, a folder of unpaired style images (PNG, JPEG, WebP, any size; prompt i takes perPrompt of them in name order), or embedded = the shapes world's reference renders. A user's images are resized and centre-cropped to the generated images' size (then resized to features.inputSize like the samples).",
    unit: "path or \"embedded\"",
    default: "embedded",
  }),
  perPrompt: field(BoundedInt(1, 1024, "every reference image's features are held in memory"), { description: "Reference images used per prompt. At most 1024: every reference image's features are held in memory.", unit: "images", default: 8 }),
});

const Features = section("The frozen vision backbone (DINOv2 interface: pixel_values -> last_hidden_state).", {
  backbone: field(NonEmptyString, {
    description: "ONNX backbone file, or embedded = the project's small self-supervised ViT.",
    unit: "path or \"embedded\"",
    default: "embedded",
  }),
  inputSize: field(BoundedInt(1, 2048, "backbone memory grows with its square"), { description: "Images are resized (bicubic) to this height = width before the backbone (518 for DINOv2 ViT-B/14 in the paper). At most 2048: backbone memory grows with its square.", unit: "pixels", default: 518 }),
  registerTokens: field(BoundedInt(0, 64, "DINOv2 variants have at most 4"), { description: "Register tokens between CLS and the patches (4 for the with-registers DINOv2 variants). At most 64: DINOv2 variants have at most 4.", unit: "tokens", default: 0 }),
  tokenTransform: field(Schema.Literals(["raw", "l2"]), {
    description: "Transform applied to tokens before the discriminator head, identically for training and scoring.",
    default: "raw",
  }),
});

const weight = field(Schema.Finite, { description: "Weight of this component in the total reward.", unit: "dimensionless", default: 1 });

const RewardComponent = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("adversarial-dino"), weight }).annotate({
    description: "The discriminator that keeps training: 0.7 h(cls) + 0.3 mean h(patches) (see discriminator).",
  }),
  Schema.Struct({ kind: Schema.Literal("dino-similarity"), weight }).annotate({
    description: "Static DINO similarity: cosine of pooled features, max over the prompt's references.",
  }),
  Schema.Struct({
    kind: Schema.Literal("frozen-discriminator"),
    weight,
    checkpoint: optionalField(NonEmptyString, {
      description: "Trained discriminator head (.safetensors) to freeze.",
      whenAbsent: "the head is trained for discriminator.warmupEpochs, then frozen",
    }),
  }).annotate({ description: "A discriminator that never updates: the fixed learned reward baseline." }),
  Schema.Struct({
    kind: Schema.Literal("ocr"),
    weight,
    lambda: field(Probability, {
      description: "Mix lambda * R_ocr + (1 - lambda) * reference similarity.",
      unit: "fraction",
      default: 0.5,
    }),
  }).annotate({ description: "PP-OCRv4 edit-distance reward on the prompt's quoted text, mixed with reference similarity." }),
]).annotate({
  expected: 'a reward component { kind: "adversarial-dino" | "dino-similarity" | "frozen-discriminator" | "ocr", weight, ... }',
});

const Rewards = field(Schema.Array(RewardComponent).check(Schema.isMaxLength(16, { expected: "at most 16 reward components (each holds its model and scores every rollout)" })), {
  description: "Reward components, each recorded separately; the total reward is their weighted sum. At most 16: each holds its model and scores every rollout.",
  default: [{ kind: "adversarial-dino" }],
});

const Discriminator = section("The head on backbone tokens and its adversarial training (hinge loss).", {
  hiddenWidth: field(BoundedInt(1, 65536, "head memory grows with it"), { description: "Hidden width of Linear(D -> width) -> GELU -> Linear(width -> 1). At most 65536: head memory grows with it.", unit: "units", default: 512 }),
  lr: field(PositiveNumber, { description: "Adam learning rate.", unit: "learning rate", default: 1e-4 }),
  betas: field(Betas, { description: "Adam (beta1, beta2).", unit: "dimensionless", default: [0.5, 0.999] }),
  patches: field(BoundedInt(1, 65536, "loss and reward memory grow with it"), { description: "Patch tokens drawn uniformly with replacement per image, for the loss and the reward. At most 65536: loss and reward memory grow with it.", unit: "patches", default: 64 }),
  lossWeights: section("L_D = global * L_global + local * L_local.", {
    global: field(NonNegativeNumber, { description: "Weight of the CLS hinge loss.", unit: "dimensionless", default: 1.0 }),
    local: field(NonNegativeNumber, { description: "Weight of the patch hinge loss (the paper's text says 7:3, its code 1.0:0.3).", unit: "dimensionless", default: 0.3 }),
  }),
  rewardWeights: section("R = cls * h(cls) + patches * mean h(patch).", {
    cls: field(NonNegativeNumber, { description: "Weight of the CLS logit in the reward.", unit: "dimensionless", default: 0.7 }),
    patches: field(NonNegativeNumber, { description: "Weight of the mean patch logit in the reward.", unit: "dimensionless", default: 0.3 }),
  }),
  dTimes: field(PositiveInt, {
    description: "D:G schedule: of every dTimes epochs, dTimes - 1 update only the discriminator and one updates the generator (1 = every epoch updates both).",
    unit: "epochs",
    default: 10,
  }),
  trigger: field(Schema.Literals(["schedule", "when-generated-exceeds-reference"]), {
    description: "schedule: follow dTimes; when-generated-exceeds-reference: update the discriminator only on epochs where generated rewards exceed reference rewards, and skip the generator update then.",
    default: "schedule",
  }),
  warmupEpochs: field(NonNegativeInt, { description: "Discriminator-only epochs before the schedule starts (none in the paper).", unit: "epochs", default: 0 }),
});

const Lora = Schema.Struct({
  rank: field(BoundedInt(1, 4096, "adapter memory grows with it"), { description: "Adapter rank r. At most 4096: adapter memory grows with it.", unit: "rank", default: 32 }),
  alpha: field(PositiveNumber, { description: "Adapter scale alpha (the update is alpha / r * B A).", unit: "dimensionless", default: 64 }),
  targets: field(Schema.NonEmptyArray(NonEmptyString), {
    description: "Substrings of weight names whose linear projections get adapters.",
    default: ["to_q", "to_k", "to_v", "to_out"],
  }),
}).annotate({ description: "Train low-rank adapters only (needed for large external generators)." });

const Nft = section("DiffusionNFT (learner.objective: nft), values of the released code (docs/objectives.md).", {
  beta: field(PositiveNumber, {
    description: "Implicit-policy step beta: v+ = beta v + (1 - beta) v_old, v- = (1 + beta) v_old - beta v (1 in the released default, 0.1 for OCR).",
    unit: "dimensionless",
    default: 1,
  }),
  timesteps: field(PositiveInt, {
    description: "Schedule times each rollout is trained at, drawn without replacement from the sampler's steps (int(0.99 N) = 9 of 10 released).",
    unit: "times per rollout",
    default: 9,
  }),
});

const Awm = section("Advantage Weighted Matching (learner.objective: awm), the paper's defaults (docs/objectives.md).", {
  timesteps: field(PositiveInt, { description: "Schedule times each rollout is trained at, one per stratum of the step range.", unit: "times per rollout", default: 6 }),
  timestepFraction: field(Probability, {
    description: "Times are drawn from schedule steps 1 .. floor(fraction * N) (step 0, pure noise, is skipped).",
    unit: "fraction of the sampler's steps",
    default: 0.9,
  }),
  weighting: field(Schema.Literals(["ghuber", "uniform"]), {
    description: "ghuber = t / p ((l + 1e-10)^p - 1e-10^p) of the matching error l (paper default); uniform = l.",
    default: "ghuber",
  }),
  ghuberPower: field(PositiveNumber, { description: "Power p of the ghuber weighting.", unit: "dimensionless", default: 0.25 }),
});

const Learner = section("The policy update: GRPO (docs/algorithm.md §5, §6) or a likelihood-free objective (docs/objectives.md).", {
  objective: field(Schema.Literals(["grpo", "nft", "awm"]), {
    description:
      "grpo = clipped surrogate on the SDE window's log-probs; nft = DiffusionNFT, awm = Advantage Weighted Matching: both train on the clean rollout samples through the forward process and need no log-probs.",
    default: "grpo",
  }),
  guidance: field(Schema.Literals(["as-sampled", "none"]), {
    description: "Velocity the loss differentiates: as-sampled = with sampler.cfgWeight; none = the conditional branch alone (CFG-free training; grpo then needs sampler.cfgWeight 1).",
    default: "as-sampled",
  }),
  ratioNormalisation: field(Schema.Literals(["none", "grpo-guard"]), {
    description: "grpo only: grpo-guard = GRPO-Guard's RatioNorm (ratio centred and scaled by the transition std, loss divided by the step size); needs Gaussian log-densities.",
    default: "none",
  }),
  nft: Nft,
  awm: Awm,
  lr: field(PositiveNumber, {
    description: "AdamW learning rate (the paper's LoRA value; a small generator trained in full needs about 1e-5..3e-5).",
    unit: "learning rate",
    default: 3e-4,
  }),
  betas: field(Betas, { description: "AdamW (beta1, beta2).", unit: "dimensionless", default: [0.9, 0.999] }),
  weightDecay: field(NonNegativeNumber, { description: "AdamW decoupled weight decay.", unit: "per step, times lr", default: 1e-4 }),
  epsilon: field(PositiveNumber, { description: "AdamW epsilon.", unit: "dimensionless", default: 1e-8 }),
  clipRange: field(
    Schema.Finite.check(
      Schema.isGreaterThan(0, {
        expected: "a positive clip range such as 1e-5 (Adv-GRPO) or 1e-4 (Flow-GRPO); at 0 every ratio is clipped and nothing trains",
      }),
    ),
    { description: "PPO clip range eps: ratios are clipped to [1 - eps, 1 + eps].", unit: "ratio", default: 1e-5 },
  ),
  advantageClip: field(PositiveNumber, { description: "Advantages are clamped to [-advantageClip, advantageClip].", unit: "standard deviations", default: 5 }),
  advantageStd: field(Schema.Literals(["global", "group"]), {
    description: "Advantage denominator: population std of all the epoch's rewards (global, released code) or of the prompt's group (paper).",
    default: "global",
  }),
  advantageEpsilon: field(PositiveNumber, { description: "Added to the std before dividing.", unit: "reward units", default: 1e-4 }),
  klBeta: field(NonNegativeNumber, {
    description: "Weight of the KL penalty to the initial policy (0 in Adv-GRPO): transition-mean KL for grpo, beta mean (v - v_ref)^2 for nft and awm.",
    unit: "dimensionless",
    default: 0,
  }),
  gradClip: field(PositiveNumber, { description: "Global gradient-norm clip.", unit: "L2 norm", default: 1.0 }),
  maxPolicyLag: field(BoundedInt(0, 8, "each epoch of lag keeps one more epoch of groups in flight"), {
    description:
      "Epochs the sampling weights may trail the learner: epoch e samples with the weights of epoch e - k, so sampling runs ahead while the learner learns (in distributed: workers, or without distributed: in a sampling thread of this process), and the ratio uses the recorded sampling log-probs as the old policy; 0 = exactly on-policy. Not with objective nft or ratioNormalisation grpo-guard, which need the sampling weights themselves.",
    unit: "epochs",
    default: 0,
  }),
  stepsPerEpoch: field(PositiveInt, {
    description:
      "Optimiser steps per generator epoch: the epoch's groups are dealt whole into this many steps, as evenly as possible (sizes differ by at most one group; a group is never split, since its advantages are normalised together). At most sampler.promptsPerEpoch; the first step is exactly on-policy.",
    unit: "steps",
    default: 2,
  }),
  microBatch: optionalField(BoundedInt(1, 1024, "the activations the loss graph keeps for backward grow with it"), {
    description:
      "Group members per learner graph run: each micro-batch (a window step of a group) is cut into slices of this many members and their gradients averaged, the same step up to float rounding. The activations the loss graph keeps for backward grow with it (the run prints the estimate at start). Must divide sampler.groupSize. Unit: samples. At most 1024: the activations the loss graph keeps for backward grow with it.",
    whenAbsent: "the whole group (sampler.groupSize) per run",
  }),
  ema: section("EMA of the trained weights, used for evaluation and export.", {
    enabled: field(Schema.Boolean, { description: "Keep an EMA copy of the trained weights.", default: true }),
    maxDecay: field(Probability, { description: "Decay is min((1 + k) / (10 + k), maxDecay) at EMA update k.", unit: "fraction", default: 0.9 }),
    every: field(PositiveInt, { description: "Optimiser steps between EMA updates.", unit: "steps", default: 8 }),
  }),
  lora: optionalField(Lora, { description: "Low-rank adapters.", whenAbsent: "all generator weights train" }),
});

const Eval = section("Evaluation on held-out prompts with the ODE sampler.", {
  every: field(PositiveInt, { description: "Evaluate every k epochs (and after the last).", unit: "epochs", default: 10 }),
  heldOutPrompts: field(BoundedInt(1, 100000, "evaluation time grows with it"), { description: "Held-out prompts evaluated, taken in order from prompts.heldOut. At most 100000: evaluation time grows with it.", unit: "prompts", default: 32 }),
  seeds: field(Schema.NonEmptyArray(NonNegativeInt).check(Schema.isMaxLength(64, { expected: "at most 64 seeds (evaluation time grows with their count)" })), { description: "Initial-noise seeds sampled for every held-out prompt. At most 64: evaluation time grows with their count.", unit: "integer seeds", default: [0, 1] }),
  useEma: field(Schema.Boolean, { description: "Evaluate the EMA weights (needs learner.ema.enabled).", default: true }),
  stopOnRewardHacking: field(Schema.Boolean, {
    description:
      "Stop the run when the reward-hacking monitor fires (the reward margin over the references rose while held-out alignment fell more than 5 points since the previous or the first evaluation): that epoch's checkpoint is written, the reason goes to the progress output and the report, and no further epoch starts. Off: the report only warns.",
    default: false,
  }),
});

const Record = section("The Arrow rollout log.", {
  batchRows: field(BoundedInt(1, 65536, "a batch is buffered in memory before it is written"), { description: "Rows per written record batch; a crash loses at most the batch in flight. At most 65536: a batch is buffered in memory before it is written.", unit: "rows", default: 64 }),
  storeImages: field(Schema.Boolean, { description: "Store every rollout's image as PNG bytes.", default: true }),
  storeFeatures: field(Schema.Boolean, {
    description: "Also store every rollout's CLS and patch tokens ((N+1) x D floats; the pooled feature is always stored). Replay recomputes them from the image either way.",
    default: false,
  }),
  latentDtype: field(Schema.Literals(["float32", "float16", "none"]), {
    description:
      "Storage of the SDE window's latents: none (replay samples them again from the seeds with the epoch's starting weights, compares log-probs and images, and is exact; the smallest log); float32 as sampled (replay reads them; for analysing trajectories); float16 (half of float32; learner steps replay from rounded latents, compare with --tolerance).",
    default: "none",
  }),
});

const Stream = section("Flow control of the streaming stages.", {
  onMemberFailure: field(Schema.Literals(["fail", "drop-group"]), {
    description: "When one member of a group fails: fail the run, or drop its whole group (groups are never mixed).",
    default: "fail",
  }),
  maxInFlightGroups: field(BoundedInt(1, 4096, "each open group holds its rollouts in memory"), {
    description:
      "Groups the group assembler may hold incomplete at once (members arrive group by group, so more means a stage reordered or lost members); one more fails the run with TooManyOpenGroups instead of buffering without bound. At most 4096: each open group holds its rollouts in memory.",
    unit: "groups",
    default: 2,
  }),
});

const Distributed = Schema.Struct({
  url: field(NonEmptyString, {
    description:
      "NATS server with JetStream (nats-server -js) shared by the learner and its workers; nats://<host>:4222 across machines. Streams, buckets and subjects are named after run.name.",
    unit: "URL",
    default: "nats://127.0.0.1:4222",
  }),
  ackDeadline: field(PositiveNumber, {
    description: "A group task whose worker neither finishes it nor reports progress for this long is handed to another worker (a killed worker's group is redone).",
    unit: "seconds",
    default: 60,
  }),
  maxInFlightGroupsPerWorker: field(PositiveInt, {
    description: "Group tasks one worker holds at once: fetched together, sampled one after another; more lets a worker start the next group without a round trip, fewer leaves more for other workers.",
    unit: "groups",
    default: 1,
  }),
  outageTimeout: field(PositiveNumber, {
    description:
      "How long the learner and workers wait for an unreachable NATS server (or a JetStream operation that keeps failing) before stopping: the learner keeps the checkpoint of its last complete epoch, cuts the logs back to it and exits with status 75; `--resume` continues once NATS is back.",
    unit: "seconds",
    default: 60,
  }),
  noWorkerWarning: field(PositiveNumber, {
    description: "While tasks wait and no worker has taken one for this long, the learner says so (naming the NATS URL and the task stream), and again after every further such interval.",
    unit: "seconds",
    default: 60,
  }),
}).annotate({ description: "Rollout workers in other processes or on other machines, feeding this learner over NATS JetStream." });

const Pretrain = section("Flow-matching pretraining of the embedded generator on base-style renders (advgrpo pretrain).", {
  steps: field(BoundedInt(1, 100000000, "run time grows with it"), { description: "Optimiser steps. At most 100000000: run time grows with it.", unit: "steps", default: 20000 }),
  batchSize: field(BoundedInt(1, 65536, "a step holds its batch in memory"), { description: "Images per step. At most 65536: a step holds its batch in memory.", unit: "images", default: 64 }),
  lr: field(PositiveNumber, { description: "AdamW learning rate.", unit: "learning rate", default: 1e-3 }),
  weightDecay: field(NonNegativeNumber, { description: "AdamW decoupled weight decay.", unit: "per step, times lr", default: 0 }),
  checkpointEvery: field(PositiveInt, { description: "Steps between checkpoints.", unit: "steps", default: 1000 }),
});

const configFields = {
  run: Run,
  compute: Compute,
  generator: Generator,
  sampler: Sampler,
  world: World,
  prompts: Prompts,
  references: References,
  features: Features,
  rewards: Rewards,
  discriminator: Discriminator,
  learner: Learner,
  eval: Eval,
  record: Record,
  stream: Stream,
  distributed: optionalField(Distributed, {
    description: "Sample, featurise and score rollouts in `advgrpo worker` processes; this process (run or learner) issues group tasks and learns.",
    whenAbsent: "this process samples and learns",
  }),
  pretrain: Pretrain,
};

/** The resolved configuration: what the pipeline runs with, every default filled in. */
export const PipelineConfig = Schema.Struct(configFields).annotate({ title: "advgrpo pipeline" });
export type PipelineConfig = typeof PipelineConfig.Type;
export type RewardComponent = PipelineConfig["rewards"][number];
export type RewardKind = RewardComponent["kind"];

/** What a pipeline file may contain: the configuration plus the file-level `extends`. */
export const PipelineFile = Schema.Struct({
  extends: optionalField(NonEmptyString, {
    description:
      "A pipeline file this one builds on: a path relative to this file (ending in .yaml or .yml, or containing a /) or a preset name from pipelines/presets/. Objects merge key by key, arrays and scalars replace, null resets a key to its default.",
    whenAbsent: "this file stands alone",
  }),
  ...configFields,
}).annotate({
  title: "advgrpo pipeline file",
  description: "A declarative Adv-GRPO pipeline. Every key is optional; the field reference is pipelines/README.md.",
});

/** Decoding options shared by the loader and the JSON Schema: a key the schema does not know is an error. */
export const strictness = { onExcessProperty: "error" } as const;
