/**
 * A whole training state in one safetensors file, so a run resumes exactly: named weight sets (model, EMA,
 * discriminator ...), optimiser states, and string metadata (counters, RNG positions, settings as JSON).
 *   tensors   <set>/<param>                         weights
 *             <optimizer>.optimizer/<slot>/<param>  optimiser buffers (m, v, momentum)
 *   metadata  optimizer.<optimizer>.algorithm / .step, and the caller's keys
 */
import { readFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import { decodeSafetensors, fromParamSet, SafetensorsIoError, toParamSet, writeSafetensors } from "./safetensors.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import type { ParamSet } from "../optim/param-set.ts";

export interface TrainingState {
  readonly weights: Readonly<Record<string, ParamSet>>;
  readonly optimizers: Readonly<Record<string, OptimizerState>>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A checkpoint that lacks what the resuming run needs. */
export class TrainingStateError extends Schema.TaggedError<TrainingStateError>()("TrainingStateError", {
  file: Schema.String,
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `checkpoint ${this.file}: ${this.field}: expected ${this.expected}, found ${this.found}`;
  }
}

const OPTIMIZER = ".optimizer/";
const reserved = /^optimizer\./;

const renamed = (prefix: string, set: ParamSet): ParamSet => set.map((t) => ({ ...t, name: `${prefix}${t.name}` }));

export const saveTrainingState = async (file: string, state: TrainingState): Promise<void> => {
  const clash = Object.keys(state.metadata).find((k) => reserved.test(k));
  if (clash) throw new TrainingStateError({ file, field: `metadata '${clash}'`, expected: "a key not starting with 'optimizer.'", found: clash });
  return Effect.runPromise(
    writeSafetensors(file, {
      tensors: fromParamSet([
        ...Object.entries(state.weights).flatMap(([set, params]) => renamed(`${set}/`, params)),
        ...Object.entries(state.optimizers).flatMap(([name, o]) => renamed(`${name}${OPTIMIZER}`, o.slots)),
      ]),
      metadata: {
        ...state.metadata,
        ...Object.fromEntries(
          Object.entries(state.optimizers).flatMap(([name, o]) => [
            [`optimizer.${name}.algorithm`, o.algorithm],
            [`optimizer.${name}.step`, String(o.step)],
          ]),
        ),
      },
    }),
  );
};

export const loadTrainingState = async (file: string): Promise<TrainingState> => {
  const bytes = await readFile(file).catch((cause: Error) => {
    throw new SafetensorsIoError({ file, operation: "read", reason: cause.message });
  });
  const contents = decodeSafetensors(bytes, file);
  const tensors = toParamSet(contents, file);
  const weights: Record<string, ParamSet> = {};
  const slots: Record<string, ParamSet> = {};
  for (const t of tensors) {
    const optimizerAt = t.name.indexOf(OPTIMIZER);
    const [target, set, name] =
      optimizerAt >= 0 ? [slots, t.name.slice(0, optimizerAt), t.name.slice(optimizerAt + OPTIMIZER.length)] : [weights, t.name.slice(0, t.name.indexOf("/")), t.name.slice(t.name.indexOf("/") + 1)];
    if (!set) throw new TrainingStateError({ file, field: `tensor '${t.name}'`, expected: "a name '<set>/<param>'", found: t.name });
    target[set] = [...(target[set] ?? []), { ...t, name }];
  }
  const optimizers = Object.fromEntries(
    Object.entries(slots).map(([name, s]) => {
      const algorithm = contents.metadata[`optimizer.${name}.algorithm`];
      const step = Number(contents.metadata[`optimizer.${name}.step`]);
      if (!algorithm || !Number.isInteger(step)) {
        throw new TrainingStateError({ file, field: `optimizer '${name}'`, expected: "algorithm and step in the metadata", found: `${algorithm ?? "no algorithm"}, step ${step}` });
      }
      return [name, { algorithm: algorithm as OptimizerState["algorithm"], step, slots: s }];
    }),
  );
  const metadata = Object.fromEntries(Object.entries(contents.metadata).filter(([k]) => !reserved.test(k)));
  return { weights, optimizers, metadata };
};

/** A metadata entry that must be there. */
export const requireMetadata = (state: TrainingState, file: string, key: string): string =>
  state.metadata[key] ??
  (() => {
    throw new TrainingStateError({ file, field: `metadata '${key}'`, expected: "present", found: "missing" });
  })();
