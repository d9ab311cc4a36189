/**
 * `advgrpo plan <pipeline.yaml>`: what a run would load, checked without reading the weights of big exports or opening
 * a session on the generator (so a GPU recipe can be checked on a machine without one): every file the pipeline names exists;
 * each ONNX file parses, its external data files are present and long enough, and its inputs and outputs fit the
 * pipeline and each other (transformer vs latents and text widths, VAE channels, backbone input); every prompt is in
 * the embeddings file; and the weight bytes each model brings, from which the weights' host and device memory follow.
 * For an imported generator it also builds the learner's loss graph as a run would, with the weights that live in
 * external data left unread (zero tensors that take no memory), and prints its memory estimate (weights, fed inputs,
 * peak activations): the line a run prints before its first epoch.
 */
import { loadOnnxTextEncoder } from "../models/text/onnx-encoder.ts";
import { loadOnnx, parseModel, readModelFile, readSignature } from "../graph/import.ts";
import { estimateMemory, type MemoryEstimate } from "../graph/memory.ts";
import { elementBytes } from "../graph/onnx-tensors.ts";
import { validateBackboneSignature } from "../models/backbone/features.ts";
import { onnxNetwork } from "../models/generator/onnx-network.ts";
import { checkVaeDecoder } from "../models/generator/vae.ts";
import { checkPromptsEmbedded, loadEmbeddingsFile } from "../models/text/embeddings-file.ts";
import { defaultExecution } from "../runtime/execution.ts";
import type { PipelineConfig } from "./config/schema.ts";
import { loadingField, requireConfiguredFiles } from "./configured-files.ts";
import { learnerMemoryLine } from "./console-text.ts";
import { learnerGraph, loadEmbeddedGenerator } from "./policy.ts";
import { heldOutPrompts, trainingPrompts } from "./prompts.ts";
import { SHARED_WEIGHTS_ABOVE_BYTES } from "../train/open-graph.ts";

/** An ONNX file's weights as stored: parameters and bytes, from the initialisers' shapes (no data read). */
interface StoredWeights {
  readonly parameters: number;
  readonly bytes: number;
  /** Bytes of fp16/bf16 initialisers, which `float16Weights: widen` doubles. */
  readonly halfBytes: number;
  readonly externalFiles: number;
}

/** The file's signature and weights, its external data checked (readModelFile). */
const openModelFile = (path: string, field: string) => {
  const bytes = loadingField(field, () => readModelFile(path));
  const model = parseModel(bytes, path);
  let [parameters, stored, halfBytes] = [0, 0, 0];
  const files = new Set<string>();
  for (const t of model.graph!.initializer ?? []) {
    const count = (t.dims ?? []).reduce((a, b) => a * b, 1);
    const size = count * (elementBytes(t.dataType ?? 0) ?? 0);
    parameters += count;
    stored += size;
    if (t.dataType === 10 || t.dataType === 16) halfBytes += size;
    for (const e of t.externalData ?? []) if (e.key === "location") files.add(e.value ?? "");
  }
  const weights: StoredWeights = { parameters, bytes: stored, halfBytes, externalFiles: files.size };
  return { bytes, signature: readSignature(bytes, path), weights };
};

const gib = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`);
const describe = (w: StoredWeights) =>
  `${(w.parameters / 1e6).toFixed(3)} M parameters, ${gib(w.bytes)} stored${w.halfBytes > 0 ? ` (${gib(w.halfBytes)} of it fp16/bf16)` : ""}${w.externalFiles > 0 ? ` in ${w.externalFiles} external data file(s), all present and complete` : ""}`;

/**
 * How many copies of the generator's weights the policy sessions hold on the host during a run, and why
 * (GraphSessions decides). Graphs past `sharedAbove` go to one scratch weight file ORT maps read-only; with
 * prepacking off (compute.shareImportedWeights) the sessions share that mapping, with it on each CPU session packs
 * a copy of its own. Smaller graphs open from memory, a copy each. advgrpo's decoded import is released once the
 * sessions are open (buildPolicy), so it counts only while loading.
 */
const hostGeneratorCopies = (bytes: number, share: boolean, sharedAbove: number) => {
  if (bytes <= sharedAbove) return { copies: 3, why: `one in each of the three policy sessions, which open from memory at most ${gib(sharedAbove)} of weights whatever compute.shareImportedWeights says` };
  if (share) return { copies: 1, why: "ONNX Runtime's one mapping of the scratch weight file the three policy graphs share, as compute.shareImportedWeights: true turns their prepacking off" };
  return { copies: 3, why: "the copy each of the three policy sessions prepacks from the scratch weight file, as compute.shareImportedWeights: false lets them" };
};

/** What the generator's files bring: the plan's lines, the weight bytes held, and the learner graph's estimate. */
interface GeneratorPlan {
  readonly lines: readonly string[];
  /** The generator's weights as the policy sessions hold them (0 for the embedded DiT, which is small). */
  readonly generatorBytes: number;
  /** The VAE decoder's. */
  readonly otherBytes: number;
  readonly learner?: MemoryEstimate & { readonly members: number };
}

/** The text source's widths: from the embeddings file, or from one probe run of the text encoder. */
const planText = async (config: PipelineConfig, o: NonNullable<PipelineConfig["generator"]["onnx"]>) => {
  if (o.textEmbeddings !== undefined) {
    const embeddings = loadEmbeddingsFile(o.textEmbeddings);
    checkPromptsEmbedded(embeddings, trainingPrompts(config), "prompts.train");
    checkPromptsEmbedded(embeddings, heldOutPrompts(config), "prompts.heldOut");
    const line = `text: ${o.textEmbeddings}: ${embeddings.prompts.length} prompts embedded ([${embeddings.tokenShape.join(", ")}] tokens, pooled ${embeddings.width}), every training and held-out prompt among them`;
    return { text: { pooledWidth: embeddings.width, tokenShape: embeddings.tokenShape }, line };
  }
  // a CLIP-size encoder on the CPU: its widths come from one probe run
  const encoder = await loadOnnxTextEncoder({ model: o.textEncoder!, tokenizer: o.tokenizer!, maxLength: o.maxTextLength }, defaultExecution);
  const text = { pooledWidth: encoder.width, ...(encoder.tokenShape ? { tokenShape: encoder.tokenShape } : {}) };
  await encoder.release();
  return { text, line: `text: ${o.textEncoder} with ${o.tokenizer}: pooled ${text.pooledWidth}${text.tokenShape ? `, tokens [${text.tokenShape.join(", ")}]` : ""}` };
};

/** An imported generator: text source, transformer and VAE checked against each other, the learner graph built unweighted. */
const planOnnxGenerator = async (config: PipelineConfig, o: NonNullable<PipelineConfig["generator"]["onnx"]>): Promise<GeneratorPlan> => {
  const { sampleSize, latentChannels } = config.generator;
  const latentShape = [latentChannels, sampleSize, sampleSize] as const;
  const { text, line: textLine } = await planText(config, o);
  const transformer = openModelFile(o.velocityModel, "generator.onnx.velocityModel");
  // weights in external data stay unread (zeros): the graph is built only to be measured
  const model = loadOnnx(o.velocityModel, { float16: o.float16Weights, externalWeights: "zeros" });
  const net = onnxNetwork(model, { latentShape, text, timestepScale: o.timestepScale, ...(o.names ? { names: o.names } : {}) });
  const graph = learnerGraph(config, net);
  const held = (w: StoredWeights) => (o.float16Weights === "keep" ? w.bytes : w.bytes + w.halfBytes);
  const generatorBytes = held(transformer.weights);
  const lines = [textLine, `transformer: ${o.velocityModel}: ${describe(transformer.weights)}; fits latents [${latentShape.join(", ")}] and the text widths; held as ${gib(generatorBytes)} (float16Weights: ${o.float16Weights})`];
  let otherBytes = 0;
  if (o.vaeDecoder !== undefined) {
    const vae = openModelFile(o.vaeDecoder, "generator.onnx.vaeDecoder");
    checkVaeDecoder({ source: o.vaeDecoder, signature: vae.signature, nodes: [], initializers: new Map() }, { latentShape, scalingFactor: o.scalingFactor, shiftFactor: o.shiftFactor, batch: o.decodeBatch });
    otherBytes = held(vae.weights);
    lines.push(`VAE decoder: ${o.vaeDecoder}: ${describe(vae.weights)}; takes latents [${latentShape.join(", ")}], decodes ${o.decodeBatch} at a time`);
  }
  return { lines, generatorBytes, otherBytes, learner: { ...estimateMemory(graph.lossGraph.graph), members: graph.members } };
};

/** The embedded DiT is small: its file is read whole, so a damaged or mismatched one fails here as it would in a run. */
const planEmbeddedGenerator = async (config: PipelineConfig): Promise<GeneratorPlan> => {
  const { file, weights } = await loadEmbeddedGenerator(config);
  const parameters = weights.params.reduce((n, p) => n + p.data.length, 0);
  const { sampleSize, latentChannels } = config.generator;
  return { lines: [`generator: ${file}: ${(parameters / 1e6).toFixed(3)} M parameters, samples [${[latentChannels, sampleSize, sampleSize].join(", ")}]`], generatorBytes: 0, otherBytes: 0 };
};

/** The weights' memory on the host during the run and while loading, and on a GPU device. */
const memoryLine = (generatorBytes: number, otherBytes: number, share: boolean, sharedAbove: number): string => {
  const { copies, why } = hostGeneratorCopies(generatorBytes, share, sharedAbove);
  return (
    `weights in memory, about: host ${gib(copies * generatorBytes + otherBytes)} during the run (the generator ${copies === 1 ? "once" : `${copies} times`}: ${why}; plus the VAE and backbone), ` +
    `and while loading another ${gib(2 * generatorBytes)} (advgrpo's decoded import and the graphs built from it, about twice the generator, released once the policy sessions are open); ` +
    `a GPU provider copies the generator once per policy session: ${gib(3 * generatorBytes + otherBytes)} on the device`
  );
};

/**
 * The plan's lines; throws at the first file that does not fit, naming file and field. `sharedAbove`: the generator
 * bytes past which the policy graphs go through the shared weight file (GraphSessions' threshold; tests lower it).
 */
export const planRun = async (config: PipelineConfig, sharedAbove = SHARED_WEIGHTS_ABOVE_BYTES): Promise<string[]> => {
  requireConfiguredFiles(config);
  const o = config.generator.onnx;
  const generator = config.generator.kind === "onnx" && o ? await planOnnxGenerator(config, o) : await planEmbeddedGenerator(config);
  const lines = [`pipeline ${config.run.name}: every named file exists`, ...generator.lines];
  let otherBytes = generator.otherBytes;
  if (config.features.backbone !== "embedded") {
    const backbone = openModelFile(config.features.backbone, "features.backbone");
    const f = config.features;
    const { dim } = validateBackboneSignature(backbone.bytes, f.backbone, { size: f.inputSize, patchSize: 14, registers: f.registerTokens, pooling: "cls" });
    otherBytes += backbone.weights.bytes;
    lines.push(`backbone: ${f.backbone}: ${describe(backbone.weights)}; pixel_values at ${f.inputSize} px, token width ${dim ?? "set by the file at run time"}`);
  }
  if (generator.generatorBytes > 0) lines.push(memoryLine(generator.generatorBytes, otherBytes, config.compute.shareImportedWeights, sharedAbove));
  if (generator.learner) lines.push(learnerMemoryLine(generator.learner, config.sampler.groupSize));
  return lines;
};
