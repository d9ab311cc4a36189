import { afterAll, describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { FlowConfigError, VelocityOutputError } from "../../src/flow/errors.ts";
import { referenceStep } from "./reference.ts";
import { FlowSampler, initialNoise, type SamplerConfig, stepNoise, type VelocityFn } from "../../src/flow/sampler.ts";
import { sdeWindow, sigmaSchedule } from "../../src/flow/schedule.ts";
import { cpsMethod, logProbOf, odeMethod, sdeMethod, type StochasticMethod } from "../../src/flow/steps.ts";
import type { TrajectoryStep } from "../../src/rollout/rollout.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { runGraph } from "./run-graph.ts";

const latentShape = [2, 3, 3];
const size = 18;
const mu = Array.from({ length: size }, (_, k) => Math.sin(k + 1));
const tau = 0.5;

/**
 * The exact marginal velocity E[x1 - x0 | x_t] for data N(mu, tau^2 I) and noise N(0, I): affine in x,
 * v = c(t) (x - (1 - t) mu) - mu with c(t) = (t - (1 - t) tau^2) / ((1 - t)^2 tau^2 + t^2). tau = 0 is a point mass.
 */
const gaussianVelocity = (target: readonly number[], spread: number): VelocityFn => async (x, sigma) =>
  x.map((xi, i) => {
    const t = sigma[Math.floor(i / target.length)]!;
    const m = target[i % target.length]!;
    return velocityScale(t, spread) * (xi - (1 - t) * m) - m;
  });
const velocityScale = (t: number, spread: number) => (t - (1 - t) * spread ** 2) / ((1 - t) ** 2 * spread ** 2 + t ** 2);

const samplers: FlowSampler[] = [];
const makeSampler = (config: Partial<SamplerConfig> & Pick<SamplerConfig, "method">): FlowSampler => {
  const schedule = config.schedule ?? sigmaSchedule(10, 3);
  const sampler = FlowSampler.create({ latentShape, schedule, window: sdeWindow(schedule.steps, 2), ...config });
  samplers.push(sampler);
  return sampler;
};
afterAll(() => Promise.all(samplers.map((s) => s.release())));

const stochasticMethods: readonly [string, StochasticMethod][] = [
  ["Flow-SDE", sdeMethod()],
  ["Flow-CPS released", cpsMethod()],
  ["Flow-CPS gaussian", cpsMethod(0.8, "gaussian")],
];

describe("FlowSampler reaches the target of an analytic velocity field", () => {
  it.each([["ODE", odeMethod] as const, ...stochasticMethods])("%s transports N(0, I) to a point mass", async (_, method) => {
    const { latents } = await makeSampler({ method }).sample(gaussianVelocity(mu, 0), [1, 2, 3]);
    latents.forEach((value, i) => expect(Math.abs(value - mu[i % size]!)).toBeLessThan(1e-5));
  });

  it("ODE lands each sample exactly where Euler's affine map sends its initial noise, and that map tends to N(mu, tau^2)", async () => {
    // For an affine field, y = x - (1 - t) mu obeys y' = y (1 + dt c(t)): the final latent is mu + k z.
    const schedule = sigmaSchedule(100, 1);
    const k = schedule.sigmas.slice(0, -1).reduce((acc, s, i) => acc * (1 + (schedule.sigmas[i + 1]! - s) * velocityScale(s, tau)), 1);
    expect(Math.abs(k - tau)).toBeLessThan(0.01);
    const seeds = [5, 6];
    const { latents, trajectories } = await makeSampler({ method: odeMethod, schedule }).sample(gaussianVelocity(mu, tau), seeds);
    expect(trajectories).toEqual([[], []]);
    seeds.forEach((seed, b) =>
      initialNoise(seed, size).forEach((z, i) => expect(Math.abs(latents[b * size + i]! - (mu[i]! + k * z))).toBeLessThan(1e-4)),
    );
  });

  it("Flow-SDE over every step keeps the marginal: the samples end near N(mu, tau^2)", async () => {
    const schedule = sigmaSchedule(100, 1);
    const seeds = Array.from({ length: 64 }, (_, i) => 1000 + i);
    const { latents } = await makeSampler({ method: sdeMethod(), schedule, window: sdeWindow(100, 100) }).sample(gaussianVelocity(mu, tau), seeds);
    const deviations = Array.from(latents, (value, i) => value - mu[i % size]!);
    const mean = deviations.reduce((a, b) => a + b, 0) / deviations.length;
    const std = Math.sqrt(deviations.reduce((a, d) => a + (d - mean) ** 2, 0) / deviations.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std / tau - 1)).toBeLessThan(0.05);
  });
});

describe("FlowSampler trajectories", () => {
  const velocity = gaussianVelocity(mu, tau);

  it("records exactly the window's steps, with the float32 sigmas the step graph saw", async () => {
    const schedule = sigmaSchedule(10, 3);
    const { trajectories } = await makeSampler({ method: sdeMethod(), window: sdeWindow(10, 3, 2) }).sample(velocity, [1, 2]);
    for (const steps of trajectories) {
      expect(steps.map((s) => s.stepIndex)).toEqual([2, 3, 4]);
      steps.forEach((s) => {
        expect(s.sigma).toBe(Math.fround(schedule.sigmas[s.stepIndex]!));
        expect(s.sigmaNext).toBe(Math.fround(schedule.sigmas[s.stepIndex + 1]!));
        expect(s.x).toHaveLength(size);
        expect(s.xNext).toHaveLength(size);
      });
      // consecutive window steps chain: one step's output is the next step's input
      expect(steps[1]!.x).toEqual(steps[0]!.xNext);
    }
  });

  it.each(stochasticMethods)("%s: the same seeds give bit-identical trajectories and latents", async (_, method) => {
    const sampler = makeSampler({ method });
    expect(await sampler.sample(velocity, [7, 8, 9])).toEqual(await makeSampler({ method }).sample(velocity, [7, 8, 9]));
  });

  it.each(stochasticMethods)("%s: a sample's trajectory does not depend on which samples share its batch", async (_, method) => {
    // Positions at the start, inside and at the tail of a 20-sample batch: ORT's vectorised kernels treat them differently.
    const sampler = makeSampler({ method });
    const seeds = Array.from({ length: 20 }, (_, i) => 40 + i);
    const shared = await sampler.sample(velocity, seeds);
    for (const b of [0, 9, 19]) {
      const alone = await sampler.sample(velocity, [seeds[b]!]);
      expect(shared.trajectories[b]).toEqual(alone.trajectories[0]);
      expect(shared.latents.slice(b * size, (b + 1) * size)).toEqual(alone.latents);
    }
  });

  it("each member draws its own seed's initial and step noise", async () => {
    const method = sdeMethod();
    const seeds = [21, 22, 23];
    const schedule = sigmaSchedule(10, 3);
    const { trajectories } = await makeSampler({ method }).sample(velocity, seeds);
    seeds.forEach((seed, b) => {
      expect(trajectories[b]![0]!.x).toEqual(initialNoise(seed, size));
      for (const step of trajectories[b]!) {
        const v = Array.from({ length: size }, (_, k) => velocityScale(step.sigma, tau) * (step.x[k]! - (1 - step.sigma) * mu[k]!) - mu[k]!);
        const eps = Array.from(stepNoise(seed, step.stepIndex, size));
        const ref = referenceStep(Array.from(step.x), v, eps, step.sigma, step.sigmaNext, schedule.sigmas[1]!, method);
        ref.next.forEach((value, k) => expect(step.xNext[k]).toBeCloseTo(value, 4));
      }
    });
    const noises = seeds.map((seed) => Array.from(stepNoise(seed, 0, size)));
    expect(new Set(noises.map((n) => n.join())).size).toBe(3);
    expect(Array.from(stepNoise(21, 0, size))).not.toEqual(Array.from(stepNoise(21, 1, size)));
  });
});

/** The learner's side: logProbOf over stacked recorded transitions, velocity recomputed from the recorded x. */
const recompute = async (steps: readonly TrajectoryStep[], method: StochasticMethod, velocity: VelocityFn): Promise<Float32Array> => {
  const batch = steps.length;
  const stack = (pick: (s: TrajectoryStep) => Float32Array) => {
    const out = new Float32Array(batch * size);
    steps.forEach((s, b) => out.set(pick(s), b * size));
    return out;
  };
  const x = stack((s) => s.x);
  const sigma = Float32Array.from(steps, (s) => s.sigma);
  const shape = [batch, ...latentShape];
  const g = new Graph("learner-side");
  const input = (name: string, s: readonly number[]) => g.input(name, "float32", s);
  g.output(logProbOf(input("x_next", shape), input("x", shape), input("v", shape), input("sigma", [batch]), input("sigma_next", [batch]), method), "log_prob");
  const out = await runGraph(g, {
    x_next: f32(shape, stack((s) => s.xNext)),
    x: f32(shape, x),
    v: f32(shape, await velocity(x, sigma)),
    sigma: f32([batch], sigma),
    sigma_next: f32([batch], Float32Array.from(steps, (s) => s.sigmaNext)),
  });
  return out.log_prob as Float32Array;
};

describe("the on-policy check", () => {
  const velocity = gaussianVelocity(mu, tau);
  const seeds = [31, 32, 33];

  it.each(stochasticMethods)("%s: logProbOf on a recorded step, same batch, gives the recorded logProb exactly (ratio 1)", async (_, method) => {
    const { trajectories } = await makeSampler({ method }).sample(velocity, seeds);
    for (const w of [0, 1]) {
      const recorded = trajectories.map((t) => t[w]!);
      const fresh = await recompute(recorded, method, velocity);
      expect(Array.from(fresh)).toEqual(recorded.map((s) => s.logProb));
      fresh.forEach((lp, b) => expect(Math.exp(lp - recorded[b]!.logProb)).toBe(1));
    }
  });

  it.each(stochasticMethods)("%s: also exact when the learner batches every trained step of the group together", async (_, method) => {
    const { trajectories } = await makeSampler({ method }).sample(velocity, Array.from({ length: 9 }, (_, i) => 60 + i));
    const all = trajectories.flat();
    expect(Array.from(await recompute(all, method, velocity))).toEqual(all.map((s) => s.logProb));
  });
});

describe("FlowSampler refuses bad settings and inputs", () => {
  it("a CPS window that reaches the last step, where its std is 0", () => {
    expect(() => makeSampler({ method: cpsMethod(), window: sdeWindow(10, 2, 8) })).toThrow(/ends before the last step/);
  });

  it("a stochastic window with noise level 0", () => {
    expect(() => makeSampler({ method: sdeMethod(0) })).toThrow(FlowConfigError);
  });

  it("a window that does not fit the schedule", () => {
    expect(() => makeSampler({ method: sdeMethod(), window: { start: 9, size: 2 } })).toThrow(/start \+ size/);
  });

  it("a velocity of the wrong length, naming the step", async () => {
    const sampler = makeSampler({ method: sdeMethod() });
    await expect(sampler.sample(async (x) => x.subarray(1), [1])).rejects.toThrow(VelocityOutputError);
    await expect(sampler.sample(async (x) => x.subarray(1), [1])).rejects.toThrow("velocity at sampling step 0: expected 18 values (batch x latent), found 17");
  });

  it("no seeds", async () => {
    await expect(makeSampler({ method: odeMethod }).sample(gaussianVelocity(mu, 0), [])).rejects.toThrow(/one seed per sample/);
  });
});
