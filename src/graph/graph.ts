import { type AnyTypedArray, type DType, typedArrayFrom } from "./dtype.ts";
import { GraphShapeError, UnknownOpError } from "./errors.ts";
import { opDefinitions } from "./op-defs/index.ts";
import type { Attrs, Shape, TensorInfo } from "./tensor.ts";

/** A value in a graph. */
export interface Tensor extends TensorInfo {
  readonly graph: Graph;
}

export interface Node {
  readonly op: string;
  readonly name: string;
  /** `undefined` marks an omitted optional input (serialised as ""). */
  readonly inputs: readonly (Tensor | undefined)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Attrs;
}

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/**
 * A typed ONNX graph under construction. Nodes are appended in topological order by construction,
 * which autodiff relies on when it walks the list backwards.
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly initializers: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  private readonly names = new Set<string>();
  private readonly constantCache = new Map<string, Tensor>();
  private counter = 0;

  readonly name: string;

  constructor(name = "advgrpo") {
    this.name = name;
  }

  private uniqueName(base: string): string {
    let candidate = base;
    while (this.names.has(candidate)) candidate = `${base}_${++this.counter}`;
    this.names.add(candidate);
    return candidate;
  }

  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.names.has(name)) throw new Error(`graph '${this.name}' already has a value named '${name}'`);
    this.names.add(name);
    const tensor: Tensor = { graph: this, name, dtype, shape: [...shape] };
    this.inputs.push(tensor);
    return tensor;
  }

  constant(values: AnyTypedArray, dtype: DType, shape: Shape, name = "const"): Tensor {
    const count = numel(shape);
    if (values.length !== count) {
      throw new GraphShapeError({ op: "Constant", node: name, inputShapes: [shape], reason: `has ${values.length} values, shape needs ${count}` });
    }
    const tensor: Tensor = { graph: this, name: this.uniqueName(name), dtype, shape: [...shape], constValue: values };
    this.initializers.push(tensor);
    return tensor;
  }

  /** A scalar constant, shared between all uses of the same value and dtype. */
  scalar(value: number, dtype: DType = "float32"): Tensor {
    return this.cachedConstant(`${dtype}:${value}`, () => this.constant(typedArrayFrom(dtype, [value]), dtype, [], "scalar"));
  }

  /** A 1-D int64 constant (shapes, axes, pads), shared between uses. */
  ints(values: readonly number[]): Tensor {
    return this.cachedConstant(`ints:${values.join(",")}`, () => this.constant(typedArrayFrom("int64", values), "int64", [values.length], "ints"));
  }

  private cachedConstant(key: string, make: () => Tensor): Tensor {
    let tensor = this.constantCache.get(key);
    if (!tensor) {
      tensor = make();
      this.constantCache.set(key, tensor);
    }
    return tensor;
  }

  /** Appends a node after checking its op, attributes and input shapes; returns its outputs. */
  op(op: string, inputs: readonly (Tensor | undefined)[], attrs: Attrs = {}, name?: string): Tensor[] {
    const nodeName = this.uniqueName(name ?? op.toLowerCase());
    const def = opDefinitions[op];
    if (!def) throw new UnknownOpError({ op, node: nodeName, known: Object.keys(opDefinitions).sort() });
    for (const input of inputs) {
      if (input && input.graph !== this) throw new Error(`${op} node '${nodeName}': input '${input.name}' belongs to graph '${input.graph.name}'`);
    }
    const fail = (reason: string): never => {
      throw new GraphShapeError({ op, node: nodeName, inputShapes: inputs.map((t) => t?.shape ?? []), reason });
    };
    for (const key of Object.keys(attrs)) {
      if (!(key in def.attrs)) fail(`unknown attribute '${key}' (known: ${Object.keys(def.attrs).join(", ") || "none"})`);
    }
    const specs = def.infer({ inputs, attrs, fail });
    const outputs = specs.map((spec, i): Tensor => ({
      graph: this,
      name: this.uniqueName(specs.length === 1 ? nodeName : `${nodeName}:${i}`),
      dtype: spec.dtype,
      shape: spec.shape,
    }));
    this.nodes.push({ op, name: nodeName, inputs: [...inputs], outputs, attrs });
    return outputs;
  }

  /** Marks a value as a graph output under `name` (an Identity node renames it when needed). */
  output(tensor: Tensor, name: string): Tensor {
    const named = tensor.name === name ? tensor : this.renamed(tensor, name);
    this.outputs.push(named);
    return named;
  }

  private renamed(tensor: Tensor, name: string): Tensor {
    if (this.names.has(name)) throw new Error(`graph '${this.name}' already has a value named '${name}'`);
    const renamed: Tensor = { graph: this, name, dtype: tensor.dtype, shape: tensor.shape };
    this.names.add(name);
    this.nodes.push({ op: "Identity", name: this.uniqueName(`${name}_identity`), inputs: [tensor], outputs: [renamed], attrs: {} });
    return renamed;
  }
}
