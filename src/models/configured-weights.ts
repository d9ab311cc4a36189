/**
 * Weights files that carry their own architecture: the parameters as F32 tensors and the model's config as JSON
 * under one metadata key, so the file alone rebuilds the model (the generator and the style classifier use it).
 */
import { Effect, Schema } from "effect";
import { fromParamSet, readSafetensors, toParamSet, validateAgainst, writeSafetensors } from "../io/safetensors.ts";
import type { ParamSet } from "../optim/param-set.ts";

export interface ConfiguredWeights<Config> {
  readonly config: Config;
  readonly params: ParamSet;
  /** Provenance (command, seed, steps ...), kept verbatim. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** How one kind of model stores its config, and what its parameters must be for a config. */
interface ConfigFormat<Config> {
  readonly key: string;
  readonly schema: Schema.Codec<Config, unknown>;
  /** Names the config in errors, e.g. "a DiT config". */
  readonly description: string;
  readonly paramSpecs: (config: Config) => readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** The model's own tagged error for a file that is not its weights. */
  readonly notWeights: (file: string, reason: string) => Error;
}

export const saveConfiguredWeights = <Config>(file: string, key: string, weights: ConfiguredWeights<Config>): Promise<void> =>
  Effect.runPromise(
    writeSafetensors(file, { tensors: fromParamSet(weights.params), metadata: { ...weights.metadata, [key]: JSON.stringify(weights.config) } }),
  );

export const loadConfiguredWeights = async <Config>(file: string, format: ConfigFormat<Config>): Promise<ConfiguredWeights<Config>> => {
  const contents = await Effect.runPromise(readSafetensors(file));
  const raw = contents.metadata[format.key];
  if (raw === undefined) throw format.notWeights(file, `metadata has no '${format.key}' entry`);
  const decoded = Schema.decodeUnknownOption(Schema.fromJsonString(format.schema))(raw);
  if (decoded._tag === "None") throw format.notWeights(file, `'${format.key}' is not ${format.description}: ${raw}`);
  const config = decoded.value;
  validateAgainst(contents, format.paramSpecs(config).map((s) => ({ name: s.name, shape: s.shape, dtype: "F32" as const })), file);
  return { config, params: toParamSet(contents, file), metadata: contents.metadata };
};
