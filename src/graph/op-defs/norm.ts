import { broadcastShapes, intAttr, normaliseAxis, type OpDef, required } from "./types.ts";

export const normOps: Record<string, OpDef> = {
  Softmax: {
    attrs: { axis: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      normaliseAxis(ctx, intAttr(ctx, "axis", -1), x.shape.length);
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  LayerNormalization: {
    attrs: { axis: "int", epsilon: "float", stash_type: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "X");
      const axis = normaliseAxis(ctx, intAttr(ctx, "axis", -1), x.shape.length);
      // As in the op's function body (Mul and Add after the normalisation), Scale and B broadcast to X, so they may
      // differ per sample: adaLN's per-sample scale and shift are then part of this one kernel.
      for (const [i, what] of [[1, "Scale"], [2, "B"]] as const) {
        const p = ctx.inputs[i];
        if (p && (p.shape.length > x.shape.length || broadcastShapes(ctx, [x.shape, p.shape]).join(",") !== x.shape.join(","))) {
          ctx.fail(`${what} of shape [${p.shape.join(",")}] does not broadcast to X's [${x.shape.join(",")}]`);
        }
      }
      // The optional Mean and InvStdDev outputs are always declared: the backward rule reuses them instead of
      // recomputing the statistics (ORT computes them anyway; Y is the same with or without them).
      const stash = intAttr(ctx, "stash_type", 1);
      if (stash !== 1 && stash !== 11) ctx.fail(`stash_type ${stash} is not supported (1 = float, 11 = double)`);
      const stats = { dtype: stash === 1 ? ("float32" as const) : ("float64" as const), shape: x.shape.map((d, i) => (i < axis ? d : 1)) };
      return [{ dtype: x.dtype, shape: x.shape }, stats, stats];
    },
  },
  InstanceNormalization: {
    attrs: { epsilon: "float" },
    infer: (ctx) => {
      const x = required(ctx, 0, "input");
      const channels = x.shape[1] ?? ctx.fail("input needs rank >= 3");
      for (const [i, what] of [[1, "scale"], [2, "B"]] as const) {
        const p = required(ctx, i, what);
        if (p.shape.length !== 1 || p.shape[0] !== channels) ctx.fail(`${what} must have shape [${channels}]`);
      }
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
  GroupNormalization: {
    attrs: { num_groups: "int", epsilon: "float", stash_type: "int" },
    infer: (ctx) => {
      const x = required(ctx, 0, "X");
      const groups = intAttr(ctx, "num_groups", 0);
      const channels = x.shape[1] ?? ctx.fail("X needs rank >= 2");
      if (groups < 1 || channels % groups !== 0) ctx.fail(`num_groups ${groups} must divide channels ${channels}`);
      for (const [i, what] of [[1, "scale"], [2, "bias"]] as const) {
        const p = required(ctx, i, what);
        if (p.shape.length !== 1 || p.shape[0] !== channels) ctx.fail(`${what} must have shape [${channels}] (opset 21 per-channel)`);
      }
      return [{ dtype: x.dtype, shape: x.shape }];
    },
  },
};
