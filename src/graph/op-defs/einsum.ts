import type { InferContext, OpDef } from "./types.ts";
import { required } from "./types.ts";

interface EinsumEquation {
  readonly operands: readonly string[];
  readonly output: string;
}

/** Parses an explicit einsum equation ("nhwpqc->nchpwq"); ellipses and implicit outputs are refused. */
export const parseEinsum = (equation: string, fail: (reason: string) => never): EinsumEquation => {
  const compact = equation.replace(/\s+/g, "");
  const [lhs, output] = compact.split("->");
  if (output === undefined || compact.includes("...")) fail(`einsum equation '${equation}' needs an explicit output and no ellipsis`);
  const operands = lhs!.split(",");
  for (const term of [...operands, output!]) if (!/^[a-zA-Z]*$/.test(term)) fail(`einsum term '${term}' in '${equation}' must be letters`);
  if (new Set(output).size !== output!.length) fail(`einsum output '${output}' repeats a letter`);
  return { operands, output: output! };
};

export const einsumOps: Record<string, OpDef> = {
  Einsum: {
    attrs: { equation: "string" },
    infer: (ctx: InferContext) => {
      const eq = parseEinsum(String(ctx.attrs.equation ?? ""), ctx.fail);
      if (eq.operands.length !== ctx.inputs.length) ctx.fail(`equation has ${eq.operands.length} operands, node has ${ctx.inputs.length} inputs`);
      const sizes = new Map<string, number>();
      eq.operands.forEach((term, i) => {
        const t = required(ctx, i, `operand ${i}`);
        if (t.shape.length !== term.length) ctx.fail(`operand ${i} has rank ${t.shape.length}, term '${term}' needs ${term.length}`);
        [...term].forEach((letter, k) => {
          const known = sizes.get(letter);
          if (known !== undefined && known !== t.shape[k]) ctx.fail(`letter '${letter}' is ${known} in one operand and ${t.shape[k]} in another`);
          sizes.set(letter, t.shape[k]!);
        });
      });
      const shape = [...eq.output].map((l) => sizes.get(l) ?? ctx.fail(`output letter '${l}' appears in no operand`));
      return [{ dtype: required(ctx, 0, "operand 0").dtype, shape }];
    },
  },
};
