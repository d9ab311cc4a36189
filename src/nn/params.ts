import type { Graph, Tensor } from "../graph/graph.ts";
import { paramSet, paramTensor, type ParamSet } from "../optim/param-set.ts";
import { makeRng } from "../util/prng.ts";

/** How a parameter is initialised; fan-in scaled inits follow torch's nn defaults. */
type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  | { readonly kind: "normal"; readonly std: number }
  | { readonly kind: "uniform"; readonly bound: number };

/** Low-rank adapters (LoRA) added to the `linear` layers whose scope name matches a target. */
export interface LoraConfig {
  readonly rank: number;
  /** The adapter's output is scaled by alpha / rank. */
  readonly alpha: number;
  /** Layer names or glob patterns (`*` = any run of characters), matched against the layer's full name or its tail, e.g. "attn.qkv". */
  readonly targets: readonly string[];
}

export const LORA_MARKER = ".lora_";

/** Whether a parameter belongs to an adapter: the default trainable set when adapters are on. */
export const isAdapterParam = (name: string): boolean => name.includes(LORA_MARKER);

/** A LoRA target glob as a pattern over dotted layer names: matches the whole name or a tail after a dot. */
export const globToRegExp = (glob: string): RegExp => new RegExp(`(^|\\.)${glob.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

/**
 * Declares a model's parameters while its graph is built. Parameters are graph inputs, not initialisers,
 * so one session serves every training step: weights live on the host and are updated in place.
 */
export class ParamScope {
  readonly graph: Graph;
  readonly prefix: string;
  private readonly registry: ParamSpec[];
  private readonly tensors: Map<string, Tensor>;
  readonly lora: LoraConfig | undefined;

  constructor(graph: Graph, options: { lora?: LoraConfig } = {}, prefix = "", registry: ParamSpec[] = [], tensors = new Map<string, Tensor>()) {
    this.graph = graph;
    this.lora = options.lora;
    this.prefix = prefix;
    this.registry = registry;
    this.tensors = tensors;
  }

  /** A nested scope whose parameters are named `<prefix><name>.<param>`. */
  child(name: string): ParamScope {
    return new ParamScope(this.graph, { lora: this.lora }, `${this.prefix}${name}.`, this.registry, this.tensors);
  }

  /** The adapter config when this scope's layer is a LoRA target. */
  adapterHere(): LoraConfig | undefined {
    const layer = this.prefix.replace(/\.$/, "");
    return this.lora?.targets.some((t) => globToRegExp(t).test(layer)) ? this.lora : undefined;
  }

  param(name: string, shape: readonly number[], init: Init): Tensor {
    const fullName = `${this.prefix}${name}`;
    const existing = this.tensors.get(fullName);
    if (existing) {
      if (existing.shape.join(",") !== shape.join(",")) throw new Error(`parameter '${fullName}' reused with shape [${shape}] but declared [${existing.shape}]`);
      return existing;
    }
    const tensor = this.graph.input(fullName, "float32", shape);
    this.registry.push({ name: fullName, shape: [...shape], init });
    this.tensors.set(fullName, tensor);
    return tensor;
  }

  get specs(): readonly ParamSpec[] {
    return this.registry;
  }

  tensor(name: string): Tensor {
    return this.tensors.get(name) ?? (() => {
      throw new Error(`no parameter '${name}' in this model (known: ${[...this.tensors.keys()].join(", ")})`);
    })();
  }
}

/** Draws initial weights for every spec from one seeded stream per parameter name (order-independent). */
export const initParams = (specs: readonly ParamSpec[], seed: number): ParamSet => {
  const root = makeRng(seed);
  return paramSet(
    specs.map((spec) => {
      const t = paramTensor(spec.name, spec.shape);
      const rng = root.fork(spec.name);
      const init = spec.init;
      if (init.kind === "ones") t.data.fill(1);
      else if (init.kind === "normal") for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * init.std;
      else if (init.kind === "uniform") for (let i = 0; i < t.data.length; i++) t.data[i] = (2 * rng.next() - 1) * init.bound;
      return t;
    }),
  );
};
