/**
 * Exports the embedded velocity network as a plain, self-contained .onnx file: the contract's inputs and output,
 * weights embedded as initialisers, loadable by any ONNX runtime. The text encoder is not part of it (its
 * pooled embeddings are the `pooled_embeds` input); shapes are static, so the file is made for one batch size.
 */
import { decodeModel, encodeModel, type TensorMessage } from "../../graph/onnx-proto.ts";
import { onnxTypeCode } from "../../graph/dtype.ts";
import { getMatching, indexByName, type ParamSet } from "../../optim/param-set.ts";
import { compileForward } from "../../train/train-graph.ts";
import type { DiTConfig } from "./dit.ts";
import { velocityModel } from "./network.ts";
import { GENERATOR_CONFIG_KEY } from "./weights.ts";

const initialiser = (name: string, shape: readonly number[], data: Float32Array): TensorMessage => ({
  name,
  dims: [...shape],
  dataType: onnxTypeCode.float32,
  rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
});

/** The velocity network at a fixed batch size with `params` baked in (extra parameters, e.g. the text table, are ignored). */
export const generatorOnnx = (config: DiTConfig, params: ParamSet, batch: number): Uint8Array => {
  const compiled = compileForward("shapes-dit-velocity", velocityModel(config, batch));
  const index = indexByName(params);
  const weights = compiled.params.map((spec) => getMatching(index, spec, "generator export"));
  const model = decodeModel(compiled.bytes);
  const baked = new Set(weights.map((w) => w.name));
  const graph = model.graph!;
  return encodeModel({
    ...model,
    metadataProps: [{ key: GENERATOR_CONFIG_KEY, value: JSON.stringify(config) }],
    graph: {
      ...graph,
      input: (graph.input ?? []).filter((i) => !baked.has(i.name)),
      initializer: [...(graph.initializer ?? []), ...weights.map((w) => initialiser(w.name, w.shape, w.data))],
    },
  });
};
