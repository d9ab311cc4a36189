/**
 * The sampling loop, independent of any network: a velocity callback (the generator port, guidance applied
 * inside) drives N steps, ODE outside the SDE window and the stochastic method inside, and every trained step
 * is recorded. Noise comes from per-sample streams addressed by (seed, purpose), so a sample's noise, and with
 * a per-sample velocity its whole trajectory, depends on its seed only, not on which samples share its batch.
 */
import { numel } from "../graph/graph.ts";
import { toOnnx } from "../graph/serialize.ts";
import type { TrajectoryStep } from "../rollout/rollout.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import { makeRng } from "../util/prng.ts";
import { FlowConfigError, VelocityOutputError } from "./errors.ts";
import { inWindow, type SdeWindow, sdeWindow, type SigmaSchedule } from "./schedule.ts";
import { odeMethod, type StepMethod, stepGraph, stepIO } from "./steps.ts";

/** Velocity for a batch: x is [B, ...latentShape] flattened, sigma is [B]; returns [B, ...latentShape] flattened. */
export type VelocityFn = (x: Float32Array, sigma: Float32Array) => Promise<Float32Array>;

export interface SamplerConfig {
  /** One sample's latent shape, e.g. [C, H, W]. */
  readonly latentShape: readonly number[];
  readonly schedule: SigmaSchedule;
  /** Steps taken with `method` and recorded; ignored (all ODE) when `method` is the ODE. */
  readonly window: SdeWindow;
  readonly method: StepMethod;
  readonly execution?: ExecutionConfig;
}

interface SampleResult {
  /** Final latents [B, ...latentShape] flattened. */
  readonly latents: Float32Array;
  /** Per sample, its recorded window steps in step order. */
  readonly trajectories: readonly (readonly TrajectoryStep[])[];
}

/** The initial latent x1 ~ N(0, I) of the sample with this seed. */
export const initialNoise = (seed: number, size: number): Float32Array => makeRng(seed).fork("initial-noise").fillNormal(new Float32Array(size));

/** eps ~ N(0, I) of one stochastic step of the sample with this seed. */
export const stepNoise = (seed: number, stepIndex: number, size: number): Float32Array =>
  makeRng(seed).fork(`step-noise:${stepIndex}`).fillNormal(new Float32Array(size));

const validate = (config: SamplerConfig): void => {
  const { latentShape, schedule, window, method } = config;
  if (latentShape.length === 0 || !latentShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new FlowConfigError({ field: "latentShape", found: `[${latentShape.join(",")}]`, expected: "positive integer dimensions, e.g. [C, H, W]" });
  }
  sdeWindow(schedule.steps, window.size, window.start);
  if (method.kind === "ode" || window.size === 0) return;
  if (!(method.noiseLevel > 0)) {
    throw new FlowConfigError({ field: `${method.kind}.noiseLevel`, found: String(method.noiseLevel), expected: "> 0 for a stochastic window (at 0 the step is the ODE and has no density)" });
  }
  if (method.kind === "cps" && window.start + window.size === schedule.steps) {
    throw new FlowConfigError({
      field: "window",
      found: `a window ending at the last step (${schedule.steps - 1})`,
      expected: "a CPS window that ends before the last step: CPS noise std is sigma_next * sin(a pi / 2) = 0 there",
    });
  }
};

export class FlowSampler {
  readonly config: SamplerConfig;
  private readonly sessions = new Map<string, Promise<LocalSession>>();

  private constructor(config: SamplerConfig) {
    this.config = config;
  }

  /** Checks the configuration; step sessions are built lazily, once per batch size and step kind. */
  static create(config: SamplerConfig): FlowSampler {
    validate(config);
    return new FlowSampler(config);
  }

  private session(batch: number, method: StepMethod): Promise<LocalSession> {
    const key = `${batch}:${method.kind}`;
    let session = this.sessions.get(key);
    if (!session) {
      const graph = stepGraph(batch, this.config.latentShape, method);
      session = LocalSession.create(graph.name, toOnnx(graph), this.config.execution);
      this.sessions.set(key, session);
    }
    return session;
  }

  /** Samples one latent per seed; seeds[i] alone decides sample i's initial noise and step noise. */
  async sample(velocity: VelocityFn, seeds: readonly number[]): Promise<SampleResult> {
    const { latentShape, schedule, window, method } = this.config;
    const batch = seeds.length;
    if (batch === 0) throw new FlowConfigError({ field: "seeds", found: "no seeds", expected: "one seed per sample" });
    const size = numel(latentShape);
    const shape = [batch, ...latentShape];
    let x: Float32Array = new Float32Array(batch * size);
    seeds.forEach((seed, b) => x.set(initialNoise(seed, size), b * size));
    const trajectories: TrajectoryStep[][] = seeds.map(() => []);

    for (let i = 0; i < schedule.steps; i++) {
      const sigma = new Float32Array(batch).fill(schedule.sigmas[i]!);
      const sigmaNext = new Float32Array(batch).fill(schedule.sigmas[i + 1]!);
      const v = await velocity(x, sigma);
      if (v.length !== x.length) throw new VelocityOutputError({ stepIndex: i, expectedLength: x.length, foundLength: v.length });
      const feeds = { [stepIO.x]: f32(shape, x), [stepIO.velocity]: f32(shape, v), [stepIO.sigma]: f32([batch], sigma), [stepIO.sigmaNext]: f32([batch], sigmaNext) };

      if (method.kind === "ode" || !inWindow(window, i)) {
        const out = await (await this.session(batch, odeMethod)).run(feeds, [stepIO.next]);
        x = out[stepIO.next]!.data as Float32Array;
        continue;
      }
      const noise = new Float32Array(batch * size);
      seeds.forEach((seed, b) => noise.set(stepNoise(seed, i, size), b * size));
      const out = await (await this.session(batch, method)).run({ ...feeds, [stepIO.noise]: f32(shape, noise) }, [stepIO.next, stepIO.logProb]);
      const next = out[stepIO.next]!.data as Float32Array;
      const logProb = out[stepIO.logProb]!.data as Float32Array;
      for (let b = 0; b < batch; b++) {
        trajectories[b]!.push({
          stepIndex: i,
          // the float32 values the graph saw, so the learner feeds back exactly these
          sigma: sigma[b]!,
          sigmaNext: sigmaNext[b]!,
          x: x.slice(b * size, (b + 1) * size),
          xNext: next.slice(b * size, (b + 1) * size),
          logProb: logProb[b]!,
        });
      }
      x = next;
    }
    return { latents: x, trajectories };
  }

  async release(): Promise<void> {
    const sessions = await Promise.all(this.sessions.values());
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}
