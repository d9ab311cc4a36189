/**
 * One denoising step of the flow-matching sampler as graph-building functions (docs/algorithm.md §2).
 *
 * Sigmas are tensors, never baked-in numbers: a scalar [] or one value per sample [B], so one session serves
 * every step and the values recorded with a transition are the values the graph saw. The sampler's log-prob
 * and the learner's recomputation (`logProbOf`) share `transition` and `logDensity`, so for the same inputs they
 * are the same ops and give the same bits: the first importance ratio is exactly 1. Every op on the log-prob path
 * is exact per element or made so (pairwise sums, float64 log), so a sample's log-prob is also bitwise the same
 * whatever batch it is computed in; the learner may regroup transitions freely.
 */
import { Graph, numel, type Tensor } from "../graph/graph.ts";
import { add, cast, div, greaterOrEqual, log, mul, neg, pad, reshape, split, sqrt, square, sub, where } from "../graph/ops.ts";
import { FlowConfigError } from "./errors.ts";

/** "released": -mean((x' - mean)^2), what the Adv-GRPO code trains with; "gaussian": the scaled Gaussian log-density. */
type CpsLogProb = "released" | "gaussian";

interface OdeMethod {
  readonly kind: "ode";
}
/** Flow-SDE (Flow-GRPO). */
interface SdeMethod {
  readonly kind: "sde";
  readonly noiseLevel: number;
}
/** Flow-CPS, coefficient-preserving (the released Adv-GRPO code). */
interface CpsMethod {
  readonly kind: "cps";
  readonly noiseLevel: number;
  readonly logProb: CpsLogProb;
}
export type StochasticMethod = SdeMethod | CpsMethod;
export type StepMethod = OdeMethod | StochasticMethod;

export const odeMethod: OdeMethod = { kind: "ode" };

const requireNoiseLevel = (field: string, noiseLevel: number, max: number): void => {
  if (!(noiseLevel >= 0 && noiseLevel <= max)) {
    throw new FlowConfigError({ field, found: String(noiseLevel), expected: `a noise level in [0, ${max}]` });
  }
};

export const sdeMethod = (noiseLevel = 0.7): SdeMethod => {
  requireNoiseLevel("sde.noiseLevel", noiseLevel, Number.MAX_VALUE);
  return { kind: "sde", noiseLevel };
};

/** Above 1, sin(a pi / 2) falls again: the same noise as a smaller level, so it is refused as a likely typo. */
export const cpsMethod = (noiseLevel = 0.8, logProb: CpsLogProb = "released"): CpsMethod => {
  requireNoiseLevel("cps.noiseLevel", noiseLevel, 1);
  return { kind: "cps", noiseLevel, logProb };
};

/** A stochastic step's Gaussian: x' ~ N(mean, variance I); the variance is per sample, shaped to broadcast over x. */
export interface Transition {
  readonly mean: Tensor;
  readonly variance: Tensor;
}

interface StochasticStep {
  readonly next: Tensor;
  readonly mean: Tensor;
  /** The transition's standard deviation (s of Flow-SDE, std of Flow-CPS), [B] (or [] for scalar sigmas). */
  readonly std: Tensor;
  /** log p(next | x), a mean over the latent's C*H*W elements, [B]. */
  readonly logProb: Tensor;
}

/** A scalar sigma as is; a per-sample sigma [B] reshaped to [B,1,...] so it broadcasts over x [B,...]. */
const perSample = (sigma: Tensor, x: Tensor, field: string): Tensor => {
  if (sigma.shape.length === 0) return sigma;
  if (sigma.shape.length !== 1 || sigma.shape[0] !== x.shape[0]) {
    throw new FlowConfigError({ field, found: `shape [${sigma.shape.join(",")}]`, expected: `a scalar [] or one value per sample [${x.shape[0]}]` });
  }
  return reshape(sigma, [x.shape[0]!, ...x.shape.slice(1).map(() => 1)]);
};

const perSampleVector = (t: Tensor): Tensor => (t.shape.length === 0 ? t : reshape(t, [t.shape[0]!]));

/**
 * log evaluated in float64 and rounded back. ORT's vectorised float32 Log is an approximation (about 12% of
 * values differ from the rounded true log by an ulp) and which code path an element takes depends on where it
 * sits in its tensor, so a sample's log-prob would change with the batch around it. float64's error is far below
 * float32's resolution, so every position rounds to the same float. (Sqrt is correctly rounded and needs no help.)
 */
const positionIndependentLog = (t: Tensor): Tensor => (t.dtype === "float64" ? log(t) : cast(log(cast(t, "float64")), t.dtype));

/** x' = x + dt * v, dt = sigmaNext - sigma. */
export const eulerStep = (x: Tensor, v: Tensor, sigma: Tensor, sigmaNext: Tensor): Tensor =>
  add(x, mul(v, sub(perSample(sigmaNext, x, "sigmaNext"), perSample(sigma, x, "sigma"))));

/** Classifier-free guidance v_u + w (v_c - v_u). */
export const guide = (vUncond: Tensor, vCond: Tensor, weight: Tensor | number): Tensor => add(vUncond, mul(sub(vCond, vUncond), weight));

const sdeTransition = (x: Tensor, v: Tensor, sigma: Tensor, sigmaNext: Tensor, noiseLevel: number): Transition => {
  const dt = sub(sigmaNext, sigma);
  // sigma / (1 - sigma) is infinite at sigma = 1; the reference caps the denominator with sigma_1, which is
  // this step's sigmaNext (sigma = 1 only opens the schedule). Capping before the division keeps inf out of the graph.
  const denominatorSigma = where(greaterOrEqual(sigma, 1), sigmaNext, sigma);
  // std^2 = a^2 sigma / (1 - sigma): the mean and the density need only squares, so no square root is taken here.
  const noiseVariance = mul(div(sigma, sub(1, denominatorSigma)), noiseLevel * noiseLevel);
  const halfVarianceOverSigma = div(noiseVariance, mul(sigma, 2));
  const xCoefficient = add(1, mul(halfVarianceOverSigma, dt));
  const vCoefficient = mul(add(1, mul(halfVarianceOverSigma, sub(1, sigma))), dt);
  return { mean: add(mul(x, xCoefficient), mul(v, vCoefficient)), variance: mul(noiseVariance, neg(dt)) };
};

const cpsTransition = (x: Tensor, v: Tensor, sigma: Tensor, sigmaNext: Tensor, noiseLevel: number): Transition => {
  const sine = Math.sin((noiseLevel * Math.PI) / 2);
  // sqrt(sigmaNext^2 - std^2) = sigmaNext * sqrt(1 - sin^2) for sigmaNext >= 0; the factored form cannot go
  // negative under rounding and needs no per-element square root.
  const keptNoise = Math.sqrt(1 - sine * sine);
  const predictedData = sub(x, mul(v, sigma));
  const predictedNoise = add(x, mul(v, sub(1, sigma)));
  const mean = add(mul(predictedData, sub(1, sigmaNext)), mul(predictedNoise, mul(sigmaNext, keptNoise)));
  return { mean, variance: mul(square(sigmaNext), sine * sine) };
};

/** The Gaussian of one stochastic step from x with velocity v. */
export const transition = (x: Tensor, v: Tensor, sigma: Tensor, sigmaNext: Tensor, method: StochasticMethod): Transition => {
  const s = perSample(sigma, x, "sigma");
  const sNext = perSample(sigmaNext, x, "sigmaNext");
  return method.kind === "sde" ? sdeTransition(x, v, s, sNext, method.noiseLevel) : cpsTransition(x, v, s, sNext, method.noiseLevel);
};

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * Per-sample sum [B] over all other axes by pairwise halving. Every level is an elementwise Add, so a sample's
 * sum has one fixed order whatever the batch size or the sample's place in it; ReduceSum's vectorised order
 * depends on where the row sits in memory, which would make a recomputed log-prob differ in the last bit.
 */
const perSampleSum = (t: Tensor): Tensor => {
  const batch = t.shape[0]!;
  let rows = reshape(t, [batch, numel(t.shape.slice(1))]);
  while (rows.shape[1]! > 1) {
    const half = Math.ceil(rows.shape[1]! / 2);
    if (rows.shape[1] !== 2 * half) rows = pad(rows, [0, 0, 0, 1]); // x + 0 is exact: padding changes no sum
    const [low, high] = split(rows, [half, half], 1);
    rows = add(low!, high!);
  }
  return reshape(rows, [batch]);
};

/**
 * Per-sample [B] log-density of xNext, a mean over the C*H*W elements of each sample:
 * mean[-(x' - mean)^2 / (2 s^2) - log s - log sqrt(2 pi)] with log s written as log(s^2) / 2.
 */
const logDensity = (xNext: Tensor, t: Transition, method: StochasticMethod): Tensor => {
  const meanSquare = div(perSampleSum(square(sub(xNext, t.mean))), numel(xNext.shape.slice(1)));
  if (method.kind === "cps" && method.logProb === "released") return neg(meanSquare);
  const variance = perSampleVector(t.variance);
  const logStd = mul(positionIndependentLog(variance), 0.5);
  return sub(sub(neg(div(meanSquare, mul(variance, 2))), logStd), LOG_SQRT_2PI);
};

/** x' = mean + std * eps, with its log-probability. eps ~ N(0, I) is an input so it is recorded and reproducible. */
export const stochasticStep = (x: Tensor, v: Tensor, eps: Tensor, sigma: Tensor, sigmaNext: Tensor, method: StochasticMethod): StochasticStep => {
  const t = transition(x, v, sigma, sigmaNext, method);
  const std = sqrt(t.variance);
  const next = add(t.mean, mul(std, eps));
  return { next, mean: t.mean, std: perSampleVector(std), logProb: logDensity(next, t, method) };
};

/** log p(xNext | x) of a recorded transition under velocity v: the learner's side of `stochasticStep`. */
export const logProbOf = (xNext: Tensor, x: Tensor, v: Tensor, sigma: Tensor, sigmaNext: Tensor, method: StochasticMethod): Tensor =>
  logDensity(xNext, transition(x, v, sigma, sigmaNext, method), method);

/** Names of the step graph's inputs and outputs. */
export const stepIO = {
  x: "x",
  velocity: "velocity",
  noise: "noise",
  sigma: "sigma",
  sigmaNext: "sigma_next",
  next: "next",
  mean: "mean",
  std: "std",
  logProb: "log_prob",
} as const;

/**
 * One sampling step for a batch of `batch` latents of `latentShape` (sigmas are per sample [B]). The ODE graph
 * has no noise input and only the `next` output.
 */
export const stepGraph = (batch: number, latentShape: readonly number[], method: StepMethod): Graph => {
  const g = new Graph(`flow-${method.kind}-step`);
  const shape = [batch, ...latentShape];
  const x = g.input(stepIO.x, "float32", shape);
  const v = g.input(stepIO.velocity, "float32", shape);
  const sigma = g.input(stepIO.sigma, "float32", [batch]);
  const sigmaNext = g.input(stepIO.sigmaNext, "float32", [batch]);
  if (method.kind === "ode") {
    g.output(eulerStep(x, v, sigma, sigmaNext), stepIO.next);
    return g;
  }
  const eps = g.input(stepIO.noise, "float32", shape);
  const step = stochasticStep(x, v, eps, sigma, sigmaNext, method);
  g.output(step.next, stepIO.next);
  g.output(step.mean, stepIO.mean);
  g.output(step.std, stepIO.std);
  g.output(step.logProb, stepIO.logProb);
  return g;
};
