/**
 * Pretraining checkpoints: everything needed to continue exactly, as one training-state file
 * (src/io/training-state.ts): weight sets "generator" and "generator.ema", the "generator" optimiser,
 * and metadata step, data RNG position and the run's settings (a resume must use the same ones).
 */
import { Schema } from "effect";
import { loadTrainingState, saveTrainingState } from "../io/training-state.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { RngState } from "../util/prng.ts";

interface PretrainCheckpoint {
  /** Training steps completed. */
  readonly step: number;
  readonly params: ParamSet;
  readonly ema: ParamSet;
  readonly optimizer: OptimizerState;
  readonly rng: RngState;
  /** The settings that shape the run (architecture, batch, lr schedule, seed ...), as canonical JSON. */
  readonly settings: string;
}

/** A checkpoint (or initial weights) a run cannot continue from: missing metadata, or other settings. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  file: Schema.String,
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `cannot continue from ${this.file}: ${this.field}: expected ${this.expected}, found ${this.found}`;
  }
}

export const saveCheckpoint = (file: string, c: PretrainCheckpoint): Promise<void> =>
  saveTrainingState(file, {
    weights: { generator: c.params, "generator.ema": c.ema },
    optimizers: { generator: c.optimizer },
    metadata: { step: String(c.step), rng: JSON.stringify(c.rng), settings: c.settings },
  });

export const loadCheckpoint = async (file: string): Promise<PretrainCheckpoint> => {
  const state = await loadTrainingState(file);
  const missing = (field: string): never => {
    throw new CheckpointError({ file, field, expected: "present", found: "missing" });
  };
  const meta = (key: string): string => state.metadata[key] ?? missing(`metadata '${key}'`);
  return {
    step: Number(meta("step")),
    params: state.weights.generator ?? missing("weights 'generator'"),
    ema: state.weights["generator.ema"] ?? missing("weights 'generator.ema'"),
    optimizer: state.optimizers.generator ?? missing("optimizer 'generator'"),
    rng: JSON.parse(meta("rng")) as RngState,
    settings: meta("settings"),
  };
};
