import { formatDuration } from "../util/duration.ts";

/** One progress line of a training loop: step, mean loss over the window, speed and time left. */
interface Progress {
  readonly step: number;
  readonly steps: number;
  /** Mean loss over the window's steps. */
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  /** Wall time the window's steps took. */
  readonly seconds: number;
  readonly windowSteps: number;
}

export const formatProgress = (p: Progress): string => {
  const rate = p.windowSteps / Math.max(p.seconds, 1e-9);
  const width = String(p.steps).length;
  return [
    `step ${String(p.step).padStart(width)}/${p.steps}`,
    `loss ${p.loss.toFixed(4)}`,
    `|g| ${p.gradNorm.toFixed(3)}`,
    `lr ${p.lr.toExponential(2)}`,
    `${rate.toFixed(2)} it/s`,
    `ETA ${formatDuration((p.steps - p.step) / rate)}`,
  ].join("  ");
};
