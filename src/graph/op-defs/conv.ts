import type { InferContext } from "./types.ts";
import { intAttr, intsAttr, type OpDef, required, sameDtype } from "./types.ts";

export interface ConvGeometry {
  readonly strides: readonly number[];
  readonly pads: readonly number[];
  readonly dilations: readonly number[];
  readonly group: number;
  readonly kernel: readonly number[];
}

/** Reads Conv/ConvTranspose attributes with ONNX defaults for a weight [*, *, k1, k2, ...]. */
export const convGeometry = (ctx: Pick<InferContext, "attrs">, weightShape: readonly number[]): ConvGeometry => {
  const kernel = weightShape.slice(2);
  const ones = kernel.map(() => 1);
  return {
    kernel,
    strides: intsAttr(ctx as InferContext, "strides", ones),
    dilations: intsAttr(ctx as InferContext, "dilations", ones),
    pads: intsAttr(ctx as InferContext, "pads", [...kernel.map(() => 0), ...kernel.map(() => 0)]),
    group: intAttr(ctx as InferContext, "group", 1),
  };
};

const convAttrs = { strides: "ints", pads: "ints", dilations: "ints", group: "int", kernel_shape: "ints" } as const;

const checkOperands = (ctx: InferContext) => {
  const [x, w] = [required(ctx, 0, "X"), required(ctx, 1, "W")];
  sameDtype(ctx, [x, w]);
  if (x.shape.length < 3 || x.shape.length !== w.shape.length) ctx.fail("X and W need the same rank >= 3 ([N,C,spatial...] and [M,C/group,kernel...])");
  if (ctx.attrs.auto_pad) ctx.fail("auto_pad is not supported; give explicit pads");
  return { x, w, geometry: convGeometry(ctx, w.shape) };
};

export const convOps: Record<string, OpDef> = {
  Conv: {
    attrs: convAttrs,
    infer: (ctx) => {
      const { x, w, geometry: g } = checkOperands(ctx);
      if (x.shape[1] !== w.shape[1]! * g.group) ctx.fail(`input channels ${x.shape[1]} != weight channels ${w.shape[1]} x group ${g.group}`);
      if (w.shape[0]! % g.group !== 0) ctx.fail(`output channels ${w.shape[0]} not divisible by group ${g.group}`);
      const bias = ctx.inputs[2];
      if (bias && (bias.shape.length !== 1 || bias.shape[0] !== w.shape[0])) ctx.fail(`bias must be [${w.shape[0]}]`);
      const spatial = g.kernel.map((k, i) => {
        const padded = x.shape[i + 2]! + g.pads[i]! + g.pads[i + g.kernel.length]!;
        const out = Math.floor((padded - ((k - 1) * g.dilations[i]! + 1)) / g.strides[i]!) + 1;
        return out >= 1 ? out : ctx.fail(`kernel ${k} (dilation ${g.dilations[i]}) is larger than padded input ${padded}`);
      });
      return [{ dtype: x.dtype, shape: [x.shape[0]!, w.shape[0]!, ...spatial] }];
    },
  },
  ConvTranspose: {
    attrs: { ...convAttrs, output_padding: "ints" },
    infer: (ctx) => {
      const { x, w, geometry: g } = checkOperands(ctx);
      if (x.shape[1] !== w.shape[0]) ctx.fail(`input channels ${x.shape[1]} != weight dim 0 ${w.shape[0]}`);
      const outputPadding = intsAttr(ctx, "output_padding", g.kernel.map(() => 0));
      const spatial = g.kernel.map(
        (k, i) => g.strides[i]! * (x.shape[i + 2]! - 1) + outputPadding[i]! + ((k - 1) * g.dilations[i]! + 1) - g.pads[i]! - g.pads[i + g.kernel.length]!,
      );
      return [{ dtype: x.dtype, shape: [x.shape[0]!, w.shape[1]! * g.group, ...spatial] }];
    },
  },
};
