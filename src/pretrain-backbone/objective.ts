import type { ParamSet } from "../optim/param-set.ts";
import { paramTensor } from "../optim/param-set.ts";

/** One self-supervised objective: owns its graphs and weights, takes one optimiser step per call. */
export interface Objective {
  /** Views of every image per step; pixels arrive view-major: [view 0 of all images, view 1 of all images, ...]. */
  readonly views: number;
  step(pixels: Float32Array, learningRate: number, step: number, totalSteps: number): Promise<{ loss: number; diagnostics: string }>;
  /** The weights of the backbone to keep (e.g. DINO's teacher), named like the standalone backbone's. */
  backbone(): ParamSet;
}

const BACKBONE_PREFIX = "backbone.";

export const stripBackbonePrefix = (set: ParamSet): ParamSet =>
  set.filter((p) => p.name.startsWith(BACKBONE_PREFIX)).map((p) => paramTensor(p.name.slice(BACKBONE_PREFIX.length), p.shape, p.data));
