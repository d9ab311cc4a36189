/**
 * Pretraining checkpoints: everything needed to continue exactly, in one safetensors file.
 *   tensors   <param>                 the trained weights
 *             ema/<param>             the EMA shadow weights
 *             optimizer/<slot>/<param> AdamW's m and v
 *   metadata  step, optimizer state, data RNG position, and the run's settings (a resume must use the same ones)
 */
import { readFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import { decodeSafetensors, fromParamSet, SafetensorsIoError, toParamSet, writeSafetensors } from "../io/safetensors.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { RngState } from "../util/prng.ts";

export interface PretrainCheckpoint {
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

const EMA = "ema/";
const OPTIMIZER = "optimizer/";

const prefixed = (prefix: string, set: ParamSet): ParamSet => set.map((t) => ({ ...t, name: `${prefix}${t.name}` }));

export const saveCheckpoint = (file: string, c: PretrainCheckpoint): Promise<void> =>
  Effect.runPromise(
    writeSafetensors(file, {
      tensors: fromParamSet([...c.params, ...prefixed(EMA, c.ema), ...prefixed(OPTIMIZER, c.optimizer.slots)]),
      metadata: {
        step: String(c.step),
        "optimizer.algorithm": c.optimizer.algorithm,
        "optimizer.step": String(c.optimizer.step),
        rng: JSON.stringify(c.rng),
        settings: c.settings,
      },
    }),
  );

export const loadCheckpoint = async (file: string): Promise<PretrainCheckpoint> => {
  const bytes = await readFile(file).catch((cause: Error) => {
    throw new SafetensorsIoError({ file, operation: "read", reason: cause.message });
  });
  const contents = decodeSafetensors(bytes, file);
  const meta = (key: string): string =>
    contents.metadata[key] ?? (() => {
      throw new CheckpointError({ file, field: `metadata '${key}'`, expected: "present", found: "missing" });
    })();
  const tensors = toParamSet(contents, file);
  const under = (prefix: string) => tensors.filter((t) => t.name.startsWith(prefix)).map((t) => ({ ...t, name: t.name.slice(prefix.length) }));
  return {
    step: Number(meta("step")),
    params: tensors.filter((t) => !t.name.startsWith(EMA) && !t.name.startsWith(OPTIMIZER)),
    ema: under(EMA),
    optimizer: { algorithm: meta("optimizer.algorithm") as OptimizerState["algorithm"], step: Number(meta("optimizer.step")), slots: under(OPTIMIZER) },
    rng: JSON.parse(meta("rng")) as RngState,
    settings: meta("settings"),
  };
};
