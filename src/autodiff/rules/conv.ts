import { type ConvGeometry, convGeometry } from "../../graph/op-defs/conv.ts";
import { typedArrayFrom } from "../../graph/dtype.ts";
import { concat, conv, convTranspose, reduceSum, reshape, slice, transpose } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, type Rule } from "../rule.ts";
import { product } from "./linalg.ts";

/**
 * t's windows along the spatial axes where `kernel` is larger than 1, stacked as channels: a depthwise Conv whose
 * kernel picks one tap per output channel, out[n, c*K + k, y] = t_padded[n, c, y*stride + k*dilation] (k runs
 * over the kernel's offsets in row-major order, K their count). ORT runs that as one kernel, where one Slice per
 * offset is one kernel (and one graph node) each.
 */
const windows = (t: Tensor, kernel: readonly number[], attrs: { strides: readonly number[]; dilations: readonly number[]; pads: readonly number[] }): Tensor => {
  const count = kernel.reduce((a, b) => a * b, 1);
  if (count === 1 && attrs.pads.every((p) => p === 0) && attrs.strides.every((s) => s === 1)) return t;
  const channels = t.shape[1]!;
  const taps = new Array<number>(channels * count * count).fill(0);
  for (let c = 0; c < channels; c++) for (let k = 0; k < count; k++) taps[(c * count + k) * count + k] = 1;
  const pick = t.graph.constant(typedArrayFrom(t.dtype, taps), t.dtype, [channels * count, 1, ...kernel], "window_taps");
  return conv(t, pick, undefined, { ...attrs, group: channels });
};

/**
 * dW[o,c,k] = sum_{n,y} g[n,o,y] * Xpad[n,c, y*stride + k*dilation] as one batched matrix product per image
 * (summed over the images after). The offsets along the leading spatial axes become channels of X's windows
 * R[n, (c,k'), y', x'] = Xpad[n, c, y'*stride + k'*dilation, x'] over the padded last axis; the offsets along the
 * last axis become channels of g placed where each offset reads, G[n, (o,kx), y', x'] = g[n, o, y', (x' -
 * kx*dilation) / stride] (zero elsewhere), so R and G line up column for column and one product G R^T holds
 * every (kx, k') pair. At the conv block's shapes (B16 C32 32x32, 3x3) this took 0.86-0.92x the kernel time of one
 * product per kernel offset over a Slice of X each (9 graph nodes instead of 40), which had beaten one Gemm per offset
 * over X and g with batch and channels swapped (two Transposes) and the Conv form (g as the kernel).
 */
const weightGrad = (x: Tensor, g: Tensor, geometry: ConvGeometry): Tensor => {
  const { kernel, strides, dilations, pads } = geometry;
  const last = kernel.length - 1;
  const [images, channels] = x.shape as [number, number];
  const lead = (v: readonly number[], lastValue: number) => [...v.slice(0, last), lastValue];
  const rows = windows(x, lead(kernel, 1), { strides: lead(strides, 1), dilations: lead(dilations, 1), pads });
  const placed = placedGrad(g, geometry, rows.shape[rows.shape.length - 1]!);
  const leadCount = rows.shape[1]! / channels;
  const outChannels = g.shape[1]!;
  const summed = reduceSum(product(reshape(placed, [images, outChannels * kernel[last]!, -1]), reshape(rows, [images, channels * leadCount, -1]), { transB: true }), [0], false);
  // [(o, kx), (c, k')] -> [o, c, k', kx]
  return reshape(transpose(reshape(summed, [outChannels, kernel[last]!, channels, leadCount]), [0, 2, 3, 1]), [outChannels, channels, ...kernel]);
};

/**
 * G[n, o*K + k, y', x'] = g[n, o, y', (x' - k*dilation) / stride] where that is a whole index, else 0, over `width`
 * columns (K: the kernel's size along the last axis): g copied to where each offset of the last axis reads.
 */
const placedGrad = (g: Tensor, geometry: ConvGeometry, width: number): Tensor => {
  const { kernel, strides, dilations } = geometry;
  const last = kernel.length - 1;
  const [size, stride, dilation] = [kernel[last]!, strides[last]!, dilations[last]!];
  if (size === 1 && stride === 1) return g;
  const outChannels = g.shape[1]!;
  const reach = (size - 1) * dilation;
  const span = reach + 1;
  const leading = kernel.slice(0, last).map(() => 0);
  const taps = (at: (k: number) => number) => {
    const values = new Array<number>(outChannels * size * span).fill(0);
    for (let o = 0; o < outChannels; o++) for (let k = 0; k < size; k++) values[(o * size + k) * span + at(k)] = 1;
    return typedArrayFrom(g.dtype, values);
  };
  const spanShape = [...leading.map(() => 1), span];
  // Stride 1: a Conv whose taps read back from each offset, much faster in ORT than ConvTranspose.
  if (stride === 1) {
    const pick = g.graph.constant(taps((k) => reach - k * dilation), g.dtype, [outChannels * size, 1, ...spanShape], "place_taps");
    return conv(g, pick, undefined, { pads: [...leading, reach, ...leading, reach], group: outChannels });
  }
  const spread = g.graph.constant(taps((k) => k * dilation), g.dtype, [outChannels, size, ...spanShape], "place_taps");
  const covered = (g.shape[g.shape.length - 1]! - 1) * stride + span;
  return convTranspose(g, spread, undefined, { strides: [...leading.map(() => 1), stride], outputPadding: [...leading, width - covered], group: outChannels });
};

/**
 * dX of a stride-1 conv as a Conv of g with the kernel flipped and its in/out channel axes swapped per group,
 * padded by dilation*(k-1) - pad: on the conv block ORT's Conv took 0.63x the kernel time of its ConvTranspose
 * (which computes columns and scatters them back, col2im). undefined where that pad would be negative.
 */
const inputGradByConv = (g: Tensor, w: Tensor, geometry: ConvGeometry): Tensor | undefined => {
  const { kernel, dilations, group } = geometry;
  const rank = kernel.length;
  const pads = geometry.pads.map((p, i) => dilations[i % rank]! * (kernel[i % rank]! - 1) - p);
  if (pads.some((p) => p < 0)) return undefined;
  const spatialAxes = kernel.map((_, i) => i + 2);
  const flipped = slice(w, kernel.map((k) => k - 1), kernel.map((k) => -k - 1), spatialAxes, kernel.map(() => -1));
  const [outChannels, inPerGroup] = w.shape as [number, number];
  const swapped =
    group === 1
      ? transpose(flipped, [1, 0, ...spatialAxes])
      : reshape(transpose(reshape(flipped, [group, outChannels / group, inPerGroup, ...kernel]), [0, 2, 1, ...spatialAxes.map((a) => a + 1)]), [group * inPerGroup, outChannels / group, ...kernel]);
  return conv(g, swapped, undefined, { pads, dilations, group });
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
    const unitStride = geometry.strides.every((s) => s === 1);
    const gx = ctx.needs[0]
      ? ((unitStride ? inputGradByConv(g, w, geometry) : undefined) ??
        convTranspose(g, w, undefined, { strides: geometry.strides, pads: geometry.pads, dilations: geometry.dilations, group: geometry.group, outputPadding }))
      : undefined;
    let gw: Tensor | undefined;
    if (ctx.needs[1]) {
      const inPerGroup = w.shape[1]!;
      const outPerGroup = w.shape[0]! / geometry.group;
      const groups = Array.from({ length: geometry.group }, (_, k) =>
        weightGrad(
          geometry.group === 1 ? x : slice(x, [k * inPerGroup], [(k + 1) * inPerGroup], [1]),
          geometry.group === 1 ? g : slice(g, [k * outPerGroup], [(k + 1) * outPerGroup], [1]),
          geometry,
        ),
      );
      gw = groups.length === 1 ? groups[0] : concat(groups, 0);
    }
    const gb = bias && ctx.needs[2] ? reduceSum(g, [0, ...spatial.map((i) => i + 2)], false) : undefined;
    return [gx, gw, gb];
  },
};
