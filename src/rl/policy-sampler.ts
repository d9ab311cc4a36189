/**
 * Sampling rollouts from the current policy: the guided velocity session drives the flow sampler, and each
 * sample comes back with its recorded SDE-window trajectory and its image, decoded from the final latents
 * (by a VAE decoder for a latent generator).
 */
import type { FlowSampler } from "../flow/sampler.ts";
import type { LatentDecoder } from "../models/generator/decoder.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import { f32 } from "../runtime/tensors.ts";
import { type GraphRunner, paramFeeds } from "../train/train-graph.ts";
import { POLICY_INPUTS, type PolicyConfig, type TextEmbeddings, textFeeds } from "./policy-graph.ts";


/**
 * Generated images are 8-bit images like any other: rounding to 1/255 steps here makes the recorded PNG
 * the exact image that features and rewards saw, so replay from the rollout log reproduces them.
 */
const quantise = (image: Float32Array): Float32Array => image.map((v) => Math.round(v * 255) / 255);

export class PolicySampler {
  readonly config: PolicyConfig;
  private readonly velocity: GraphRunner;
  private readonly sampler: FlowSampler;
  private readonly decoder: LatentDecoder;
  private readonly recordTrajectories: boolean;
  /** Whether each rollout keeps its final latent (`clean`). */
  readonly recordsClean: boolean;

  /**
   * `recordTrajectories: false` keeps only the image: the forward-process objectives need no transitions.
   * `recordClean` keeps the final latent x0 too, which those objectives train on when the image is a VAE's decoding.
   */
  constructor(
    config: PolicyConfig,
    velocity: GraphRunner,
    sampler: FlowSampler,
    decoder: LatentDecoder,
    options: { readonly recordTrajectories: boolean; readonly recordClean?: boolean } = { recordTrajectories: true },
  ) {
    this.config = config;
    this.velocity = velocity;
    this.sampler = sampler;
    this.decoder = decoder;
    this.recordTrajectories = options.recordTrajectories;
    this.recordsClean = options.recordClean ?? false;
  }

  /** Samples one rollout per key with `params`; keys.length must equal the policy graph's batch. */
  async sample(keys: readonly RolloutKey[], text: TextEmbeddings, params: ParamSet): Promise<SampledRollout[]> {
    const { batch, net } = this.config;
    if (keys.length !== batch) throw new Error(`policy sampler is compiled for batches of ${batch}, got ${keys.length} keys`);
    const weights = { ...paramFeeds(params), ...textFeeds(this.config, text) };
    const start = performance.now();
    const result = await this.sampler.sample(async (x, sigma) => {
      const out = await this.velocity.run(
        {
          ...weights,
          [POLICY_INPUTS.latents]: f32([batch, ...net.latentShape], x),
          [POLICY_INPUTS.sigma]: f32([batch], sigma),
        },
        ["velocity"],
      );
      return out.velocity!.data as Float32Array;
    }, keys.map((k) => k.seed));
    const images = await this.decoder.decode(result.latents, batch);
    const perSampleMs = (performance.now() - start) / batch;
    const size = result.latents.length / batch;
    return keys.map((key, i) => ({
      ...key,
      steps: this.recordTrajectories ? result.trajectories[i]! : [],
      ...(this.recordsClean ? { clean: result.latents.slice(i * size, (i + 1) * size) } : {}),
      image: quantise(images[i]!.data),
      imageHeight: images[i]!.height,
      imageWidth: images[i]!.width,
      timings: { sample: perSampleMs },
    }));
  }
}
