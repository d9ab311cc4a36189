/**
 * In-place optimiser steps over `paramCount` fp32 parameters split into 1M-element tensors like a model's
 * layers: milliseconds per step (median after warm-up), for AdamW (the trainer's) and SGD with momentum.
 * Inputs are deterministic, not random.
 */
import { adamW } from "../optim/adam.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { type ParamSet, paramTensor } from "../optim/param-set.ts";
import { sgd } from "../optim/sgd.ts";
import { type OneRun, timeOnce } from "../util/measure.ts";

interface OptimizerBench {
  /** Milliseconds per step, medians; `Cpu` figures count only the time the thread ran (steadier on a shared machine). */
  readonly adamWMs: number;
  readonly adamWCpuMs: number;
  readonly sgdMomentumMs: number;
  readonly sgdMomentumCpuMs: number;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const benchOptimizers = async (paramCount: number, steps = 15): Promise<OptimizerBench> => {
  const chunk = 1 << 20;
  const sizes = Array.from({ length: Math.ceil(paramCount / chunk) }, (_, i) => Math.min(chunk, paramCount - i * chunk));
  const fill = (size: number, scale: number): Float32Array => Float32Array.from({ length: size }, (_, i) => scale * Math.sin(i));
  const tensors = (scale: number): ParamSet => sizes.map((size, i) => paramTensor(`w${i}`, [size], fill(size, scale)));
  const grads = tensors(0.01);
  const time = async (optimizer: Optimizer) => {
    // Enough warm-up steps for AdamW's helper thread to have started (it boots beside the first steps).
    for (let i = 0; i < 5; i++) optimizer.step(grads);
    const runs: OneRun[] = [];
    for (let i = 0; i < steps; i++) runs.push(await timeOnce(() => optimizer.step(grads)));
    return [median(runs.map((r) => r.ms)), median(runs.map((r) => r.cpuMs))] as const;
  };
  const [adamWMs, adamWCpuMs] = await time(adamW(tensors(0.1), { lr: 1e-4, weightDecay: 1e-4 }));
  const [sgdMomentumMs, sgdMomentumCpuMs] = await time(sgd(tensors(0.1), { lr: 1e-4, momentum: 0.9 }));
  return { adamWMs, adamWCpuMs, sgdMomentumMs, sgdMomentumCpuMs };
};
