import { dtypeFromOnnx } from "../dtype.ts";
import { broadcastShapes, type OpDef, required, sameDtype } from "./types.ts";

const binary = (outputBool: boolean): OpDef => ({
  attrs: {},
  infer: (ctx) => {
    const a = required(ctx, 0, "A");
    const b = required(ctx, 1, "B");
    sameDtype(ctx, [a, b]);
    return [{ dtype: outputBool ? "bool" : a.dtype, shape: broadcastShapes(ctx, [a.shape, b.shape]) }];
  },
});

const unary = (attrs: OpDef["attrs"] = {}): OpDef => ({
  attrs,
  infer: (ctx) => {
    const x = required(ctx, 0, "X");
    return [{ dtype: x.dtype, shape: x.shape }];
  },
});

export const elementwiseOps: Record<string, OpDef> = {
  Add: binary(false),
  Sub: binary(false),
  Mul: binary(false),
  Div: binary(false),
  Pow: binary(false),
  Min: binary(false),
  Max: binary(false),
  Greater: binary(true),
  GreaterOrEqual: binary(true),
  Less: binary(true),
  LessOrEqual: binary(true),
  Equal: binary(true),
  And: binary(true),
  Or: binary(true),
  Not: unary(),
  Neg: unary(),
  Exp: unary(),
  Log: unary(),
  Sqrt: unary(),
  Abs: unary(),
  Sign: unary(),
  Reciprocal: unary(),
  Floor: unary(),
  Tanh: unary(),
  Sigmoid: unary(),
  Relu: unary(),
  Erf: unary(),
  Sin: unary(),
  Cos: unary(),
  Softplus: unary(),
  Identity: unary(),
  Gelu: unary({ approximate: "string" }),
  Where: {
    attrs: {},
    infer: (ctx) => {
      const [cond, x, y] = [required(ctx, 0, "condition"), required(ctx, 1, "X"), required(ctx, 2, "Y")];
      if (cond.dtype !== "bool") ctx.fail(`condition must be bool, got ${cond.dtype}`);
      sameDtype(ctx, [x, y]);
      return [{ dtype: x.dtype, shape: broadcastShapes(ctx, [cond.shape, x.shape, y.shape]) }];
    },
  },
  Clip: {
    attrs: {},
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      for (const bound of ctx.inputs.slice(1)) {
        if (bound && bound.shape.length !== 0) ctx.fail("min and max must be scalars");
      }
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  Cast: {
    attrs: { to: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      const dtype = dtypeFromOnnx(ctx.attrs.to as number) ?? ctx.fail(`unsupported Cast target type code ${String(ctx.attrs.to)}`);
      return [{ dtype, shape: x.shape }];
    },
  },
};
