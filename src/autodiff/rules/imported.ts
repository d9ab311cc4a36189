/** Backward rules for ops that arrive only through imported ONNX files (Einsum, InstanceNormalization). */
import type { Tensor } from "../../graph/graph.ts";
import { parseEinsum } from "../../graph/op-defs/einsum.ts";
import { expand, mul, reduceSum, reshape, unsqueeze } from "../../graph/ops.ts";
import { grad, input, type Rule } from "../rule.ts";
import { normalisedBackward } from "./norm.ts";

/**
 * d/dX_i of einsum(X_0..X_n -> out) is einsum(g, X_j (j != i) -> term_i). A letter of term_i that appears
 * nowhere else was summed over inside X_i alone, so its gradient is the same for every index: computed
 * without it, then broadcast back.
 */
const einsumRule: Rule = (ctx) => {
  const fail = (reason: string): never => {
    throw new Error(`Einsum backward (node '${ctx.node.name}'): ${reason}`);
  };
  const eq = parseEinsum(String(ctx.node.attrs.equation), fail);
  const g = grad(ctx);
  return ctx.node.inputs.map((x, i) => {
    if (!ctx.needs[i] || !x) return undefined;
    const term = eq.operands[i]!;
    if (new Set(term).size !== term.length) fail(`operand ${i} term '${term}' repeats a letter (a diagonal), which has no rule`);
    const others = eq.operands.filter((_, j) => j !== i);
    const available = new Set([...eq.output, ...others.join("")]);
    const kept = [...term].filter((l) => available.has(l)).join("");
    const operands = [g, ...ctx.node.inputs.filter((_, j) => j !== i) as Tensor[]];
    const equation = `${[eq.output, ...others].join(",")}->${kept}`;
    let dx = g.graph.op("Einsum", operands, { equation })[0]!;
    const missing = [...term].flatMap((l, k) => (available.has(l) ? [] : [k]));
    if (missing.length) dx = expand(unsqueeze(dx, missing), x.shape);
    return dx;
  });
};

export const importedRules: Record<string, Rule> = {
  Einsum: einsumRule,
  InstanceNormalization: (ctx) => {
    const [x, scale] = [input(ctx, 0), input(ctx, 1)];
    const g = grad(ctx);
    const spatial = x.shape.map((_, i) => i).filter((i) => i >= 2);
    const perChannel = [x.shape[1]!, ...spatial.map(() => 1)];
    const epsilon = (ctx.node.attrs.epsilon as number | undefined) ?? 1e-5;
    const { dx, xHat } = normalisedBackward(x, mul(g, reshape(scale, perChannel)), spatial, epsilon);
    const otherAxes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    return [
      dx,
      ctx.needs[1] ? reduceSum(mul(g, xHat), otherAxes, false) : undefined,
      ctx.needs[2] ? reduceSum(g, otherAxes, false) : undefined,
    ];
  },
};
