/**
 * The embedded default backbone: a small ViT with the interface of the public DINOv2 ONNX exports
 * (input `pixel_values` [B,3,S,S] already ImageNet-normalised, output `last_hidden_state` [B,1+R+N,D]
 * after the final LayerNorm; token 0 = CLS, then R register tokens, then N patch tokens row-major).
 * Like DINOv2, position embeddings cover CLS and patches; registers are added after them without one.
 */
import { Graph, type Tensor } from "../../graph/graph.ts";
import { add, concat, expand, slice } from "../../graph/ops.ts";
import { toOnnx } from "../../graph/serialize.ts";
import { layerNorm, patchEmbed, transformerBlock } from "../../nn/layers.ts";
import { ParamScope } from "../../nn/params.ts";
import { getParam, indexByName, type ParamSet } from "../../optim/param-set.ts";

export interface VitConfig {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly dim: number;
  readonly depth: number;
  readonly heads: number;
  readonly registers: number;
  readonly mlpRatio: number;
}

export const DEFAULT_VIT: VitConfig = { imageSize: 32, patchSize: 4, dim: 64, depth: 4, heads: 4, registers: 0, mlpRatio: 4 };

export const patchCount = (c: VitConfig): number => (c.imageSize / c.patchSize) ** 2;

const truncNormal = { kind: "normal", std: 0.02 } as const;

/** The token sequence [B, 1+R+N, D] after the final LayerNorm, from normalised pixels [B,3,S,S]. */
export const vitTokens = (scope: ParamScope, pixels: Tensor, c: VitConfig): Tensor => {
  const b = pixels.shape[0]!;
  const n = patchCount(c);
  const patchTokens = patchEmbed(scope.child("patch_embed"), pixels, c.dim, c.patchSize);
  const cls = expand(scope.param("cls_token", [1, 1, c.dim], truncNormal), [b, 1, c.dim]);
  const positioned = add(concat([cls, patchTokens], 1), scope.param("pos_embed", [1, 1 + n, c.dim], truncNormal));
  let x = positioned;
  if (c.registers > 0) {
    const registers = expand(scope.param("register_tokens", [1, c.registers, c.dim], truncNormal), [b, c.registers, c.dim]);
    const [clsPart, rest] = [sliceTokens(positioned, 0, 1), sliceTokens(positioned, 1, 1 + n)];
    x = concat([clsPart, registers, rest], 1);
  }
  for (let i = 0; i < c.depth; i++) x = transformerBlock(scope.child(`blocks.${i}`), x, c.heads, c.mlpRatio);
  return layerNorm(scope.child("norm"), x);
};

const sliceTokens = (x: Tensor, start: number, end: number): Tensor => slice(x, [start], [end], [1]);

/** The backbone as a model builder with the DINOv2 input/output names, for a fixed batch size. */
export const vitBackbone = (c: VitConfig, batch: number) => (scope: ParamScope, graph: Graph) => ({
  last_hidden_state: vitTokens(scope, graph.input("pixel_values", "float32", [batch, 3, c.imageSize, c.imageSize]), c),
});

/** Metadata keys the export writes, so a loader can recover the configuration from the file alone. */
const VIT_METADATA_KEY = "advgrpo.vit";

/**
 * A standalone ONNX file of the backbone with its weights as initialisers (what a user's DINOv2 export
 * looks like). The batch axis is fixed at `batch` because the builder's shapes are static; the feature
 * stage runs such a file in chunks of that size.
 */
export const exportVitOnnx = (c: VitConfig, params: ParamSet, batch: number): Uint8Array => {
  const graph = new Graph("advgrpo_vit");
  const scope = new ParamScope(graph);
  graph.output(vitBackbone(c, batch)(scope, graph).last_hidden_state, "last_hidden_state");
  const weights = indexByName(params);
  const paramNames = new Set(scope.specs.map((s) => s.name));
  // Parameters were declared as graph inputs; turning them into initialisers of the same name bakes them in.
  for (const spec of scope.specs) {
    const p = getParam(weights, spec.name, "backbone export");
    graph.initializers.push({ graph, name: spec.name, dtype: "float32", shape: spec.shape, constValue: p.data });
  }
  const dataInputs = graph.inputs.filter((t) => !paramNames.has(t.name));
  graph.inputs.splice(0, graph.inputs.length, ...dataInputs);
  return toOnnx(graph, { [VIT_METADATA_KEY]: JSON.stringify(c) });
};
