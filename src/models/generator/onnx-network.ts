/**
 * A user's ONNX velocity model (e.g. diffusers' SD3Transformer2DModel exported by HF optimum) as the policy's
 * network: the file is parsed once, checked against the generator contract under its naming convention, and
 * imported into each policy graph with its inputs bound to the graph's tensors, its frozen weights kept as
 * initialisers and LoRA adapters on the MatMul/Gemm nodes the pipeline's targets name.
 */
import { type AdapterSite, importInto, type OnnxModel } from "../../graph/import.ts";
import { mul } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import type { NetworkInputs, VelocityNetwork } from "../../rl/policy-graph.ts";
import { checkNamedGeneratorSignature, GeneratorContractError, type GeneratorSignature, type NameMapping } from "./contract.ts";

interface OnnxNetworkOptions {
  /** The latent size [C, H, W] the pipeline samples; the file's fixed dimensions must agree. */
  readonly latentShape: readonly [number, number, number];
  /** Widths the text encoder gives: pooled D' and per-token [T, D] when it has them. */
  readonly text: { readonly pooledWidth: number; readonly tokenShape?: readonly [number, number] };
  readonly timestepScale: number;
  readonly names?: NameMapping;
}

interface OnnxNetwork extends VelocityNetwork {
  readonly signature: GeneratorSignature;
  /** The adapters of the last graph built (the same sites in every graph). */
  readonly adapters: () => readonly AdapterSite[];
  /**
   * Drops the decoded model once every graph is built and its sessions opened: they read the weights from the
   * files they were written to, so keeping it would hold one more copy of the weights for the whole run.
   */
  readonly releaseWeights: () => void;
}

const contractError = (source: string, tensor: string, expected: string, found: string) =>
  new GeneratorContractError({ source, problems: [{ tensor, expected, found }], foundInputs: [], foundOutputs: [] });

/** Fixed dimensions of the file that disagree with the pipeline's sizes, reported before any graph is built. */
const checkSizes = (signature: GeneratorSignature, o: OnnxNetworkOptions, source: string): void => {
  signature.latentShape.forEach((d, i) => {
    if (typeof d === "number" && d !== o.latentShape[i]) {
      throw contractError(source, "latents", `[B, ${o.latentShape.join(", ")}] (generator.latentChannels, generator.sampleSize)`, `[B, ${signature.latentShape.join(", ")}]`);
    }
  });
  if (signature.pooledWidth !== undefined && typeof signature.pooledWidth === "number" && signature.pooledWidth !== o.text.pooledWidth) {
    throw contractError(source, "pooled_embeds", `width ${o.text.pooledWidth}, the text encoder's pooled embeddings`, `width ${signature.pooledWidth}`);
  }
  if (signature.textEmbeds !== undefined) {
    if (!o.text.tokenShape) throw contractError(source, "text_embeds", "per-token embeddings [B, T, D] from the text encoder", "a text encoder with pooled embeddings only");
    const [t, d] = signature.textEmbeds;
    if (typeof d === "number" && d !== o.text.tokenShape[1]) throw contractError(source, "text_embeds", `width D = ${o.text.tokenShape[1]}, the text encoder's`, `D = ${d}`);
    if (typeof t === "number" && t !== o.text.tokenShape[0]) throw contractError(source, "text_embeds", `${o.text.tokenShape[0]} tokens, the text encoder's`, `${t}`);
  }
  if (signature.pooledWidth === undefined) throw contractError(source, "pooled_embeds", "a pooled text input (the policy conditions every network on one)", "none");
};

export const onnxNetwork = (model: OnnxModel, o: OnnxNetworkOptions): OnnxNetwork => {
  const { signature, names } = checkNamedGeneratorSignature(model.signature, model.source, o.names);
  checkSizes(signature, o, model.source);
  const source = model.source;
  // the closures below read the model through this slot only, so releasing it frees the decoded weights
  let held: OnnxModel | undefined = model;
  let adapters: readonly AdapterSite[] = [];
  return {
    signature,
    latentShape: o.latentShape,
    pooledWidth: o.text.pooledWidth,
    ...(signature.textEmbeds !== undefined ? { tokenShape: o.text.tokenShape! } : {}),
    adapters: () => adapters,
    releaseWeights: () => {
      held = undefined;
    },
    velocity: (scope, inputs: NetworkInputs): Tensor => {
      if (!held) throw new Error(`${source}: the imported weights were released once the policy's sessions were open; no graph can be built from them after`);
      const time = signature.time === "timestep" ? mul(inputs.sigma, scope.graph.scalar(o.timestepScale)) : inputs.sigma;
      const bind: Record<string, Tensor> = { [names.latents]: inputs.latents, [names[signature.time]]: time, [names.pooled]: inputs.pooled };
      if (signature.textEmbeds !== undefined) bind[names.text] = inputs.tokens!;
      const imported = importInto(scope.graph, held, { bind, scope });
      adapters = imported.adapters;
      return imported.outputs[names.velocity]!;
    },
  };
};
