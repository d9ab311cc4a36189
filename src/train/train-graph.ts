import { gradients } from "../autodiff/gradients.ts";
import { recastHalfWeights } from "../autodiff/recast-half-weights.ts";
import { graphFlops } from "../graph/flops.ts";
import { Graph, type Tensor } from "../graph/graph.ts";
import { toOnnx } from "../graph/serialize.ts";
import { type LoraConfig, ParamScope, type ParamSpec } from "../nn/params.ts";
import type { ParamSet } from "../optim/param-set.ts";
import type { Feeds, Fetches } from "../runtime/tensors.ts";

/** Anything that runs a serialised graph: LocalSession, a worker session, or an Effect-managed one. */
export interface GraphRunner {
  run(feeds: Feeds, fetch?: readonly string[]): Promise<Fetches>;
}

/** What a model's build function returns: named outputs; a training graph also needs a scalar `loss`. */
export type ModelOutputs = Readonly<Record<string, Tensor>>;
export type ModelBuilder = (scope: ParamScope, graph: Graph) => ModelOutputs;

export interface CompiledGraph {
  readonly name: string;
  /** The built graph; a graph past protobuf's 2 GB (a large import) is written with external data instead of `bytes`. */
  readonly graph: Graph;
  /** The serialised model, encoded on first use (throws for a graph past 2 GB: see graph/external-data.ts). */
  readonly bytes: Uint8Array;
  readonly params: readonly ParamSpec[];
  /** Non-parameter inputs (data) with their shapes, in declaration order. */
  readonly dataInputs: readonly { readonly name: string; readonly shape: readonly number[] }[];
  readonly outputs: readonly string[];
  /** Matrix FLOPs of one run (see graph/flops.ts), for throughput figures. */
  readonly flops: number;
}

export interface CompiledTrainGraph extends CompiledGraph {
  readonly trainable: readonly string[];
}

/** What running a training step needs of its graph once a session is open on it (not the graph and its weights). */
export type TrainStepOutline = Pick<CompiledTrainGraph, "params" | "outputs" | "trainable">;

export const gradName = (param: string): string => `grad:${param}`;

interface CompileOptions {
  /** Low-rank adapters on matching linear layers (their parameters are named `<layer>.lora_A/B`). */
  readonly lora?: LoraConfig;
}

const compile = (name: string, build: ModelBuilder, options: CompileOptions, differentiate: (outputs: ModelOutputs, scope: ParamScope) => string[] | undefined) => {
  const graph = new Graph(name);
  const scope = new ParamScope(graph, options);
  const outputs = build(scope, graph);
  const named = Object.entries(outputs).map(([key, t]) => graph.output(t, key).name);
  const trainable = differentiate(outputs, scope) ?? [];
  const paramNames = new Set(scope.specs.map((s) => s.name));
  let encoded: Uint8Array | undefined;
  return {
    compiled: {
      name,
      graph,
      get bytes() {
        encoded ??= toOnnx(graph);
        return encoded;
      },
      params: scope.specs,
      dataInputs: graph.inputs.filter((t) => !paramNames.has(t.name)).map((t) => ({ name: t.name, shape: t.shape })),
      outputs: [...named, ...trainable.map(gradName)],
      flops: graphFlops(graph),
      trainable,
    },
  };
};

/** A forward-only graph of the model (inference, sampling, evaluation). */
export const compileForward = (name: string, build: ModelBuilder, options: CompileOptions = {}): CompiledGraph => compile(name, build, options, () => undefined).compiled;

/**
 * Forward plus backward in one graph: outputs the model's outputs (incl. `loss`) and `grad:<param>` for each
 * trainable parameter (default all; e.g. only adapter weights).
 */
export const compileTrainStep = (name: string, build: ModelBuilder, trainable?: (param: string) => boolean, options: CompileOptions = {}): CompiledTrainGraph => {
  const { compiled } = compile(name, build, options, (outputs, scope) => {
    const loss = outputs.loss ?? (() => {
      throw new Error(`training graph '${name}' must return a scalar 'loss' output`);
    })();
    if (loss.shape.length !== 0) throw new Error(`training graph '${name}': loss must be a scalar, got shape [${loss.shape.join(",")}]`);
    const selected = scope.specs.filter((s) => trainable?.(s.name) ?? true).map((s) => s.name);
    const firstBackward = loss.graph.nodes.length;
    const grads = gradients(loss, selected.map((n) => scope.tensor(n)));
    grads.forEach((g, i) => loss.graph.output(g, gradName(selected[i]!)));
    recastHalfWeights(loss.graph, firstBackward);
    return selected;
  });
  // not spread: that would serialise the graph now, which a graph past 2 GB cannot be
  return compiled;
};

export const paramFeeds = (params: ParamSet): Feeds =>
  Object.fromEntries(params.map((p) => [p.name, { dtype: "float32" as const, shape: p.shape, data: p.data }]));

interface StepResult {
  readonly loss: number;
  readonly outputs: Fetches;
  /** Gradients named like the parameters, ready for an optimiser. */
  readonly grads: ParamSet;
}

/** Runs forward + backward once: the loss, every other output, and the gradients of the trainable parameters. */
export const runTrainStep = async (runner: GraphRunner, graph: TrainStepOutline, params: ParamSet, data: Feeds): Promise<StepResult> => {
  const outputs = await runner.run({ ...paramFeeds(params), ...data }, graph.outputs);
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const grads = graph.trainable.map((name) => ({ name, shape: shapes.get(name)!, data: outputs[gradName(name)]!.data as Float32Array }));
  return { loss: Number(outputs.loss!.data[0]), outputs, grads };
};
