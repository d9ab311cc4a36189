/**
 * LoRA adapters on an imported graph's MatMul/Gemm nodes (see graph/import.ts): which nodes match the
 * pipeline's targets, how their frozen weight is laid out, and the adapter added to their output.
 */
import { OnnxImportError } from "./errors.ts";
import type { Tensor } from "./graph.ts";
import type { NodeMessage } from "./onnx-proto.ts";
import type { ConstValue } from "./onnx-tensors.ts";
import { add, matmul, mul } from "./ops.ts";
import { globToRegExp, type LoraConfig, type ParamScope } from "../nn/params.ts";

/** One MatMul/Gemm that received a LoRA adapter. */
export interface AdapterSite {
  /** Dotted module name the adapter parameters are named after (e.g. `transformer_blocks.0.attn.to_q`). */
  readonly module: string;
  readonly node: string;
  /** The frozen weight's initialiser name in the source file. */
  readonly weight: string;
  /** How the initialiser stores the weight: [in, out] (MatMul) or [out, in] (Gemm transB, or behind a Transpose). */
  readonly layout: "in_out" | "out_in";
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Full parameter names of the factors (with the scope's prefix): A [in, rank], B [rank, out]. */
  readonly paramA: string;
  readonly paramB: string;
}

/**
 * The modules a MatMul/Gemm may belong to: its weight's name when the exporter kept it
 * (`transformer_blocks.0.attn.to_q.weight`), and its node's scope (`/transformer_blocks.0/attn/to_q/MatMul`),
 * which is all torch leaves when the weight became an anonymous `onnx::MatMul_<n>`.
 */
export const moduleCandidates = (node: string, weight: string): string[] => {
  const names: string[] = [];
  if (!weight.startsWith("onnx::")) names.push(weight.replace(/\.weight$/, ""));
  const scope = node.split("/").filter(Boolean).slice(0, -1).join(".");
  if (scope) names.push(scope);
  return names;
};

export class LoraAttacher {
  readonly sites: AdapterSite[] = [];
  private readonly targets: { glob: string; pattern: RegExp; hits: number }[];
  /** Values that are Transposes of 2-D weight initialisers (torch dynamo's nn.Linear), to the initialiser's name. */
  private readonly transposed = new Map<string, string>();
  private readonly source: string;
  private readonly lora: LoraConfig;
  private readonly scope: ParamScope;
  private readonly initializers: ReadonlyMap<string, ConstValue>;

  constructor(source: string, lora: LoraConfig, scope: ParamScope, initializers: ReadonlyMap<string, ConstValue>) {
    this.source = source;
    this.lora = lora;
    this.scope = scope;
    this.initializers = initializers;
    this.targets = lora.targets.map((glob) => ({ glob, pattern: globToRegExp(glob), hits: 0 }));
  }

  /** Records a Transpose node so a MatMul reading its output can be traced to the weight. */
  noteTranspose(output: string, input: string): void {
    if (this.initializers.get(input)?.shape.length === 2) this.transposed.set(output, input);
  }

  /** y, or y + (alpha/rank) (x A) B when the node's module matches a target. */
  attach(node: string, op: "MatMul" | "Gemm", x: Tensor, weightInput: string, y: Tensor, attrs: Readonly<Record<string, unknown>>): Tensor {
    const through = this.transposed.get(weightInput);
    const weight = through ?? weightInput;
    const stored = this.initializers.get(weight);
    if (!stored || stored.shape.length !== 2) return y;
    const modules = moduleCandidates(node, weight);
    const hit = this.targets.filter((t) => modules.some((m) => t.pattern.test(m)));
    if (!hit.length) return y;
    hit.forEach((t) => t.hits++);
    if (op === "Gemm" && attrs.transA === 1) throw new OnnxImportError({ source: this.source, reason: `LoRA target node '${node}' is a Gemm with transA, which adapters do not support` });
    // Gemm's transB and a Transpose in front each flip how the initialiser holds the weight.
    const layout = (op === "Gemm" && attrs.transB === 1) !== (through !== undefined) ? "out_in" : "in_out";
    const [rows, cols] = stored.shape as [number, number];
    const [inFeatures, outFeatures] = layout === "in_out" ? [rows, cols] : [cols, rows];
    const module = modules[0]!;
    const scope = this.scope.child(module);
    this.sites.push({ module, node, weight, layout, inFeatures, outFeatures, paramA: `${scope.prefix}lora_A`, paramB: `${scope.prefix}lora_B` });
    const down = scope.param("lora_A", [inFeatures, this.lora.rank], { kind: "uniform", bound: 1 / Math.sqrt(inFeatures) });
    const up = scope.param("lora_B", [this.lora.rank, outFeatures], { kind: "zeros" });
    return add(y, mul(matmul(matmul(x, down), up), this.lora.alpha / this.lora.rank));
  }

  /** A target that matched nothing is a mistake in the pipeline file: name it with examples of what is there. */
  assertAllMatched(nodes: readonly NodeMessage[]): void {
    const unmatched = this.targets.filter((t) => t.hits === 0);
    if (!unmatched.length) return;
    const examples = nodes
      .flatMap((n) => {
        if (n.opType !== "MatMul" && n.opType !== "Gemm") return [];
        const input = n.input?.[1] ?? "";
        const weight = this.transposed.get(input) ?? input;
        return this.initializers.has(weight) ? moduleCandidates(n.name ?? "", weight).slice(0, 1) : [];
      })
      .slice(0, 8);
    throw new OnnxImportError({
      source: this.source,
      reason: `LoRA target${unmatched.length > 1 ? "s" : ""} ${unmatched.map((t) => `'${t.glob}'`).join(", ")} match no MatMul/Gemm weight or node scope (modules here look like: ${examples.join(", ")})`,
    });
  }
}
