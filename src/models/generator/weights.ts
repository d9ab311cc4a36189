/**
 * The generator's weights file: one safetensors holding the velocity network and the text encoder's table, with
 * the architecture as JSON metadata so the file alone rebuilds the model.
 */
import { Schema } from "effect";
import type { ParamSet } from "../../optim/param-set.ts";
import { compileForward } from "../../train/train-graph.ts";
import { loadConfiguredWeights, saveConfiguredWeights, type ConfiguredWeights } from "../configured-weights.ts";
import type { DiTConfig } from "./dit.ts";
import { flowMatchingModel } from "./network.ts";

const DiTConfigSchema = Schema.Struct({
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
class GeneratorWeightsError extends Schema.TaggedError<GeneratorWeightsError>()("GeneratorWeightsError", {
  file: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `${this.file}: not a generator weights file: ${this.reason}`;
  }
}

/** The metadata key of the architecture, in weights files and exported .onnx files alike. */
export const GENERATOR_CONFIG_KEY = "advgrpo.generator.config";

export interface GeneratorWeights extends ConfiguredWeights<DiTConfig> {
  /** Velocity network (`net.*`) and text table (`text.embedding`). */
  readonly params: ParamSet;
}

/** Every parameter of the generator and text encoder, named and shaped, for a config (the training graph declares all). */
export const generatorParamSpecs = (config: DiTConfig) => compileForward("generator-spec", flowMatchingModel(config, 1)).params;

export const saveGeneratorWeights = (file: string, weights: GeneratorWeights): Promise<void> => saveConfiguredWeights(file, GENERATOR_CONFIG_KEY, weights);

export const loadGeneratorWeights = (file: string): Promise<GeneratorWeights> =>
  loadConfiguredWeights(file, {
    key: GENERATOR_CONFIG_KEY,
    schema: DiTConfigSchema,
    description: "a DiT config",
    paramSpecs: generatorParamSpecs,
    notWeights: (file, reason) => new GeneratorWeightsError({ file, reason }),
  });
