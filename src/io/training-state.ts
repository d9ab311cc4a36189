/**
 * A whole training state in one safetensors file, so a run resumes exactly: named weight sets (model, EMA,
 * discriminator ...), optimiser states, and string metadata (counters, RNG positions, settings as JSON).
 *   tensors   <set>/<param>                         weights
 *             <optimizer>.optimizer/<slot>/<param>  optimiser buffers (m, v, momentum)
 *   metadata  optimizer.<optimizer>.algorithm / .step, tensorSha256 (JSON: tensor -> SHA-256 of its bytes),
 *             and the caller's keys
 * The per-tensor hashes are checked on every load: a flipped bit in a weight fails naming the tensor
 * instead of resuming silently from damaged state.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import { decodeSafetensors, fromParamSet, SafetensorsCorruptError, SafetensorsIoError, toParamSet, writeSafetensors, type Safetensors } from "./safetensors.ts";
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

/** A checkpoint whose bytes are not what was written: unreadable, cut short, or a tensor that fails its hash. */
export class TrainingStateDamaged extends Schema.TaggedError<TrainingStateDamaged>()("TrainingStateDamaged", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `checkpoint ${this.file} is damaged: ${this.reason}`;
  }
}

const OPTIMIZER = ".optimizer/";
const HASHES = "tensorSha256";
const reserved = /^(optimizer\.|tensorSha256$)/;

const sha256 = (data: ArrayBufferView): string => createHash("sha256").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest("hex");

interface LoadTrainingStateOptions {
  /** Refuse a checkpoint without content hashes (one written before they existed), since it cannot be verified. */
  readonly requireHashes?: boolean;
}

const renamed = (prefix: string, set: ParamSet): ParamSet => set.map((t) => ({ ...t, name: `${prefix}${t.name}` }));

export const saveTrainingState = async (file: string, state: TrainingState): Promise<void> => {
  const clash = Object.keys(state.metadata).find((k) => reserved.test(k));
  if (clash) throw new TrainingStateError({ file, field: `metadata '${clash}'`, expected: "a key not starting with 'optimizer.'", found: clash });
  const tensors = fromParamSet([
    ...Object.entries(state.weights).flatMap(([set, params]) => renamed(`${set}/`, params)),
    ...Object.entries(state.optimizers).flatMap(([name, o]) => renamed(`${name}${OPTIMIZER}`, o.slots)),
  ]);
  return Effect.runPromise(
    writeSafetensors(file, {
      tensors,
      metadata: {
        ...state.metadata,
        [HASHES]: JSON.stringify(Object.fromEntries(tensors.map((t) => [t.name, sha256(t.data)]))),
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

/** Every tensor against its recorded hash; a file without hashes passes only when they are not required. */
const verifyHashes = (contents: Safetensors, file: string, options: LoadTrainingStateOptions): void => {
  const recorded = contents.metadata[HASHES];
  if (recorded === undefined) {
    if (options.requireHashes) throw new TrainingStateDamaged({ file, reason: "it carries no content hashes (written by an older advgrpo), so it cannot be verified" });
    return;
  }
  let hashes: Record<string, unknown>;
  try {
    hashes = JSON.parse(recorded) as Record<string, unknown>;
  } catch {
    throw new TrainingStateDamaged({ file, reason: `its ${HASHES} metadata is not JSON` });
  }
  const names = new Set(contents.tensors.map((t) => t.name));
  const missing = Object.keys(hashes).find((name) => !names.has(name));
  if (missing !== undefined) throw new TrainingStateDamaged({ file, reason: `tensor '${missing}' was written but is not in the file` });
  for (const tensor of contents.tensors) {
    const expected = hashes[tensor.name];
    if (expected === undefined) throw new TrainingStateDamaged({ file, reason: `tensor '${tensor.name}' has no recorded hash` });
    const found = sha256(tensor.data);
    if (found !== expected) throw new TrainingStateDamaged({ file, reason: `tensor '${tensor.name}' does not match its SHA-256 (recorded ${String(expected).slice(0, 12)}..., found ${found.slice(0, 12)}...)` });
  }
};

export const loadTrainingState = async (file: string, options: LoadTrainingStateOptions = {}): Promise<TrainingState> => {
  const bytes = await readFile(file).catch((cause: Error) => {
    throw new SafetensorsIoError({ file, operation: "read", reason: cause.message });
  });
  let contents: Safetensors;
  try {
    contents = decodeSafetensors(bytes, file);
  } catch (cause) {
    if (cause instanceof SafetensorsCorruptError) throw new TrainingStateDamaged({ file, reason: cause.message });
    throw cause;
  }
  verifyHashes(contents, file, options);
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
