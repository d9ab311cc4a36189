/**
 * A latent generator's VAE decoder (diffusers' AutoencoderKL decoder as HF optimum exports it: `latent_sample`
 * [B, C, h, w] -> `sample` [B, 3, H, W] in [-1, 1]) behind the latent scaling diffusers applies before it,
 * latents / scalingFactor + shiftFactor (SD3: 1.5305 and 0.0609), and the map to [0, 1] images. The file is
 * imported (external data and fp16 weights included) into one graph per batch size and run in batches; a graph
 * past 2 GB is loaded from a file with external data.
 * Nothing differentiates through it: rewards are computed on its images, as in the paper.
 */
import { importInto, type OnnxModel } from "../../graph/import.ts";
import { add, clip, div, mul } from "../../graph/ops.ts";
import { EMBED_LIMIT_BYTES } from "../../graph/serialize.ts";
import type { RgbImage } from "../../io/png.ts";
import { defaultExecution, type ExecutionConfig } from "../../runtime/execution.ts";
import { f32 } from "../../runtime/tensors.ts";
import { GraphSessions } from "../../train/open-graph.ts";
import { type CompiledGraph, compileForward } from "../../train/train-graph.ts";
import { describeValue, GeneratorContractError } from "./contract.ts";
import type { LatentDecoder } from "./decoder.ts";

interface VaeOptions {
  /** [C, h, w] of the latents the transformer samples. */
  readonly latentShape: readonly [number, number, number];
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  /** Latents decoded per session run. */
  readonly batch: number;
}

const fail = (model: OnnxModel, tensor: string, expected: string, found: string): never => {
  throw new GeneratorContractError({
    source: `${model.source} (generator.onnx.vaeDecoder)`,
    problems: [{ tensor, expected, found }],
    foundInputs: model.signature.inputs.map(describeValue),
    foundOutputs: model.signature.outputs.map(describeValue),
  });
};

/** Checks the decoder's declared signature against the latents before anything is built; returns its input and output names. */
export const checkVaeDecoder = (model: OnnxModel, o: VaeOptions): { input: string; output: string } => {
  const [input, ...more] = model.signature.inputs;
  if (!input || more.length > 0) fail(model, "inputs", "exactly one latent input [B, C, h, w]", `${model.signature.inputs.length}`);
  if (input!.dtype !== "float32" || input!.shape.length !== 4) fail(model, input!.name, "float32 [B, C, h, w]", describeValue(input!));
  const channels = input!.shape[1];
  if (typeof channels === "number" && channels !== o.latentShape[0]) {
    fail(model, `${input!.name} channels`, `${o.latentShape[0]} (generator.latentChannels, the transformer's latent channels)`, `${channels}`);
  }
  for (const [axis, i] of [["height", 2], ["width", 3]] as const) {
    const d = input!.shape[i];
    if (typeof d === "number" && d !== o.latentShape[i - 1]) fail(model, `${input!.name} ${axis}`, `${o.latentShape[i - 1]} (generator.sampleSize)`, `${d}`);
  }
  const output = model.signature.outputs[0];
  if (!output || output.shape.length !== 4 || (typeof output.shape[1] === "number" && output.shape[1] !== 3)) fail(model, output?.name ?? "output", "float32 [B, 3, H, W] images in [-1, 1]", output ? describeValue(output) : "none");
  return { input: input!.name, output: output!.name };
};

/** The decode graph for `batch` latents: scaling, the imported decoder, [-1, 1] -> [0, 1]. */
const decodeGraph = (model: OnnxModel, names: { input: string; output: string }, o: VaeOptions, batch: number): { compiled: CompiledGraph; imageSize: number } => {
  let imageSize = 0;
  const compiled = compileForward("vae_decode", (_scope, graph) => {
    const latents = graph.input("latents", "float32", [batch, ...o.latentShape]);
    const scaled = add(div(latents, graph.scalar(o.scalingFactor)), graph.scalar(o.shiftFactor));
    const sample = importInto(graph, model, { bind: { [names.input]: scaled } }).outputs[names.output]!;
    const [, c, h, w] = sample.shape;
    if (c !== 3 || h !== w) fail(model, names.output, "square RGB images [B, 3, S, S]", `[${sample.shape.join(", ")}] for latents [${batch}, ${o.latentShape.join(", ")}]`);
    imageSize = h!;
    return { image: clip(mul(add(sample, graph.scalar(1)), graph.scalar(0.5)), 0, 1) };
  });
  return { compiled, imageSize };
};

/**
 * `sessions` opens the decode graph: in memory, or past protobuf's 2 GB written with external data and loaded from
 * the file (only then by default: the decoder shares no weights with another graph, so the file would only cost
 * it ORT's weight prepacking); the decoder releases it with itself.
 */
export const loadVaeDecoder = async (model: OnnxModel, o: VaeOptions, execution?: ExecutionConfig, sessions = new GraphSessions(EMBED_LIMIT_BYTES)): Promise<LatentDecoder> => {
  const names = checkVaeDecoder(model, o);
  const { compiled, imageSize } = decodeGraph(model, names, o, o.batch);
  const session = await sessions.open(compiled, execution ?? defaultExecution).catch((error: unknown) => {
    sessions.release();
    throw error;
  });
  const latentSize = o.latentShape.reduce((a, b) => a * b, 1);
  const plane = 3 * imageSize * imageSize;
  return {
    imageSize,
    decode: async (latents, count) => {
      const images: RgbImage[] = [];
      for (let start = 0; start < count; start += o.batch) {
        const n = Math.min(o.batch, count - start);
        // the last chunk is padded with zeros: one compiled batch size serves every count
        const chunk = new Float32Array(o.batch * latentSize);
        chunk.set(latents.subarray(start * latentSize, (start + n) * latentSize));
        const out = (await session.run({ latents: f32([o.batch, ...o.latentShape], chunk) })).image!.data as Float32Array;
        for (let i = 0; i < n; i++) images.push({ data: out.slice(i * plane, (i + 1) * plane), height: imageSize, width: imageSize });
      }
      return images;
    },
    release: async () => {
      await session.release();
      sessions.release();
    },
  };
};
