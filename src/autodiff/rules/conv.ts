import { convGeometry } from "../../graph/op-defs/conv.ts";
import { concat, conv, convTranspose, reduceSum, slice, transpose } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, type Rule } from "../rule.ts";

const swapBatchAndChannels = (t: Tensor): Tensor => transpose(t, [1, 0, ...t.shape.slice(2).map((_, i) => i + 2)]);

/**
 * dW[o,c,k] = sum_{n,y} g[n,o,y] * Xpad[n,c, y*stride + k*dilation]: a convolution of X (batch and
 * channels swapped) with g as the kernel, where stride and dilation trade places.
 */
const weightGrad = (x: Tensor, g: Tensor, kernel: readonly number[], geometry: ReturnType<typeof convGeometry>): Tensor => {
  const full = conv(swapBatchAndChannels(x), swapBatchAndChannels(g), undefined, {
    strides: geometry.dilations,
    dilations: geometry.strides,
    pads: geometry.pads,
  });
  const spatialAxes = kernel.map((_, i) => i + 2);
  const cropped = slice(full, kernel.map(() => 0), kernel, spatialAxes);
  return swapBatchAndChannels(cropped);
};

export const convRules: Record<string, Rule> = {
  Conv: (ctx) => {
    const [x, w, bias] = [input(ctx, 0), input(ctx, 1), ctx.node.inputs[2]];
    const g = grad(ctx);
    const geometry = convGeometry(ctx.node, w.shape);
    const spatial = geometry.kernel.map((_, i) => i);
    const rank = geometry.kernel.length;
    const outputPadding = spatial.map(
      (i) => x.shape[i + 2]! + geometry.pads[i]! + geometry.pads[i + rank]! - ((g.shape[i + 2]! - 1) * geometry.strides[i]! + (geometry.kernel[i]! - 1) * geometry.dilations[i]! + 1),
    );
    const gx = ctx.needs[0]
      ? convTranspose(g, w, undefined, { strides: geometry.strides, pads: geometry.pads, dilations: geometry.dilations, group: geometry.group, outputPadding })
      : undefined;
    let gw: Tensor | undefined;
    if (ctx.needs[1]) {
      const inPerGroup = w.shape[1]!;
      const outPerGroup = w.shape[0]! / geometry.group;
      const groups = Array.from({ length: geometry.group }, (_, k) =>
        weightGrad(
          geometry.group === 1 ? x : slice(x, [k * inPerGroup], [(k + 1) * inPerGroup], [1]),
          geometry.group === 1 ? g : slice(g, [k * outPerGroup], [(k + 1) * outPerGroup], [1]),
          geometry.kernel,
          geometry,
        ),
      );
      gw = groups.length === 1 ? groups[0] : concat(groups, 0);
    }
    const gb = bias && ctx.needs[2] ? reduceSum(g, [0, ...spatial.map((i) => i + 2)], false) : undefined;
    return [gx, gw, gb];
  },
};
