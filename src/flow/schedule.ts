/**
 * The shifted sigma schedule of the flow-matching sampler and the SDE window (docs/algorithm.md §1, §2).
 * Sigma is the noise fraction t of x_t = (1 - t) x0 + t x1: 1 is pure noise, 0 is data.
 */
import { FlowConfigError } from "./errors.ts";

export interface SigmaSchedule {
  readonly steps: number;
  readonly shift: number;
  /** steps + 1 values from 1 down to the terminal 0; step i goes from sigmas[i] to sigmas[i + 1]. */
  readonly sigmas: readonly number[];
}

/** The stochastic, trained steps: indices start .. start + size - 1. Size 0 is a pure ODE sampler. */
export interface SdeWindow {
  readonly start: number;
  readonly size: number;
}

const requireInteger = (field: string, value: number, min: number): void => {
  if (!Number.isInteger(value) || value < min) throw new FlowConfigError({ field, found: String(value), expected: `an integer >= ${min}` });
};

/** The timestep shift s*u / (1 + (s - 1) u): s > 1 spends more steps at high noise. */
export const shiftSigma = (u: number, shift: number): number => (shift * u) / (1 + (shift - 1) * u);

/**
 * N values evenly spaced from 1 to shift(1/1000), each shifted (again: the reference scheduler applies the
 * shift twice, once to sigma_min and once to every value), then a terminal 0.
 */
export const sigmaSchedule = (steps: number, shift: number): SigmaSchedule => {
  requireInteger("schedule.steps", steps, 1);
  if (!(shift > 0) || !Number.isFinite(shift)) throw new FlowConfigError({ field: "schedule.shift", found: String(shift), expected: "a finite number > 0" });
  const sigmaMin = shiftSigma(1 / 1000, shift);
  const spaced = Array.from({ length: steps }, (_, i) => (steps === 1 ? 1 : 1 + ((sigmaMin - 1) * i) / (steps - 1)));
  return { steps, shift, sigmas: [...spaced.map((u) => shiftSigma(u, shift)), 0] };
};

/** Checks that the window fits inside a schedule of `steps` steps. */
export const sdeWindow = (steps: number, size: number, start = 0): SdeWindow => {
  requireInteger("window.size", size, 0);
  requireInteger("window.start", start, 0);
  if (start + size > steps) {
    throw new FlowConfigError({
      field: "window",
      found: `start ${start} + size ${size} = ${start + size}`,
      expected: `start + size <= the number of sampling steps (${steps})`,
    });
  }
  return { start, size };
};

export const inWindow = (window: SdeWindow, stepIndex: number): boolean => stepIndex >= window.start && stepIndex < window.start + window.size;
