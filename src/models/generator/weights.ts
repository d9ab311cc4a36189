/**
 * The generator's weights file: one safetensors holding the velocity network and the text encoder's table, with
 * the architecture as JSON metadata so the file alone rebuilds the model.
 */
import { readFile } from "node:fs/promises";
import { Effect, Schema } from "effect";
import { decodeSafetensors, fromParamSet, SafetensorsIoError, toParamSet, validateAgainst, writeSafetensors } from "../../io/safetensors.ts";
import type { ParamSet } from "../../optim/param-set.ts";
import { compileForward } from "../../train/train-graph.ts";
import type { DiTConfig } from "./dit.ts";
import { flowMatchingModel } from "./network.ts";

export const DiTConfigSchema = Schema.Struct({
  channels: Schema.Number,
  size: Schema.Number,
  patch: Schema.Number,
  width: Schema.Number,
  depth: Schema.Number,
  heads: Schema.Number,
  mlpRatio: Schema.Number,
  textWidth: Schema.Number,
});

/** The metadata lacks the architecture, or it does not decode. */
export class GeneratorWeightsError extends Schema.TaggedError<GeneratorWeightsError>()("GeneratorWeightsError", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file}: not a generator weights file: ${this.reason}`;
  }
}

const CONFIG_KEY = "advgrpo.generator.config";

export interface GeneratorWeights {
  readonly config: DiTConfig;
  /** Velocity network (`net.*`) and text table (`text.embedding`). */
  readonly params: ParamSet;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Every parameter of the generator and text encoder, named and shaped, for a config (the training graph declares all). */
export const generatorParamSpecs = (config: DiTConfig) => compileForward("generator-spec", flowMatchingModel(config, 1)).params;

export const saveGeneratorWeights = (file: string, weights: GeneratorWeights): Promise<void> =>
  Effect.runPromise(
    writeSafetensors(file, { tensors: fromParamSet(weights.params), metadata: { ...weights.metadata, [CONFIG_KEY]: JSON.stringify(weights.config) } }),
  );

export const loadGeneratorWeights = async (file: string): Promise<GeneratorWeights> => {
  const bytes = await readFile(file).catch((cause: Error) => {
    throw new SafetensorsIoError({ file, operation: "read", reason: cause.message });
  });
  const contents = decodeSafetensors(bytes, file);
  const raw = contents.metadata[CONFIG_KEY];
  if (raw === undefined) throw new GeneratorWeightsError({ file, reason: `metadata has no '${CONFIG_KEY}' entry` });
  const decoded = Schema.decodeUnknownOption(Schema.fromJsonString(DiTConfigSchema))(raw);
  if (decoded._tag === "None") throw new GeneratorWeightsError({ file, reason: `'${CONFIG_KEY}' is not a DiT config: ${raw}` });
  const config = decoded.value;
  validateAgainst(contents, generatorParamSpecs(config).map((s) => ({ name: s.name, shape: s.shape, dtype: "F32" as const })), file);
  return { config, params: toParamSet(contents, file), metadata: contents.metadata };
};
