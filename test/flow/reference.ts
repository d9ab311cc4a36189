/**
 * Float64 transcriptions of docs/algorithm.md §2, element by element, for tests to check the step graphs
 * against. Nothing outside tests uses them: sampling and training run the graphs.
 */
import type { StochasticMethod } from "../../src/flow/steps.ts";

interface ReferenceStep {
  readonly next: number[];
  readonly mean: number[];
  readonly std: number;
  readonly logProb: number;
}

/** One sample's step; `sigmaOne` is the schedule's sigma_1, used in place of sigma at sigma == 1 (Flow-SDE). */
export const referenceStep = (
  x: readonly number[],
  v: readonly number[],
  eps: readonly number[],
  sigma: number,
  sigmaNext: number,
  sigmaOne: number,
  method: StochasticMethod,
): ReferenceStep => {
  const a = method.noiseLevel;
  const dt = sigmaNext - sigma;
  let mean: number[];
  let std: number;
  if (method.kind === "sde") {
    const noiseStd = a * Math.sqrt(sigma / (1 - (sigma === 1 ? sigmaOne : sigma)));
    mean = x.map((xi, i) => xi * (1 + (noiseStd ** 2 * dt) / (2 * sigma)) + v[i]! * (1 + (noiseStd ** 2 * (1 - sigma)) / (2 * sigma)) * dt);
    std = noiseStd * Math.sqrt(-dt);
  } else {
    std = sigmaNext * Math.sin((a * Math.PI) / 2);
    mean = x.map((xi, i) => {
      const x0 = xi - sigma * v[i]!;
      const x1 = xi + (1 - sigma) * v[i]!;
      return (1 - sigmaNext) * x0 + Math.sqrt(sigmaNext ** 2 - std ** 2) * x1;
    });
  }
  const next = mean.map((m, i) => m + std * eps[i]!);
  const released = method.kind === "cps" && method.logProb === "released";
  const terms = next.map((xn, i) =>
    released ? -((xn - mean[i]!) ** 2) : -((xn - mean[i]!) ** 2) / (2 * std ** 2) - Math.log(std) - Math.log(Math.sqrt(2 * Math.PI)),
  );
  return { next, mean, std, logProb: terms.reduce((s, t) => s + t, 0) / terms.length };
};

/** x' = x + dt * v. */
export const referenceEuler = (x: readonly number[], v: readonly number[], sigma: number, sigmaNext: number): number[] =>
  x.map((xi, i) => xi + (sigmaNext - sigma) * v[i]!);
