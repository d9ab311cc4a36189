import { type ConvGeometry, convGeometry } from "../../graph/op-defs/conv.ts";
import { concat, conv, convTranspose, pad, reduceSum, reshape, slice, transpose, unsqueeze } from "../../graph/ops.ts";
import type { Tensor } from "../../graph/graph.ts";
import { grad, input, type Rule } from "../rule.ts";
import { product } from "./linalg.ts";

/** Every kernel offset (k1, k2, ...) in row-major order, the order of a weight's trailing axes. */
const kernelOffsets = (kernel: readonly number[]): number[][] =>
  kernel.reduce<number[][]>((acc, size) => acc.flatMap((prefix) => Array.from({ length: size }, (_, k) => [...prefix, k])), [[]]);

/**
 * dW[o,c,k] = sum_{n,y} g[n,o,y] * Xpad[n,c, y*stride + k*dilation]: im2col + matrix products, the column
 * matrix kept split by kernel offset. Per offset, the strided window of X ([N, C, Y]) meets g ([N, O, Y]) in one
 * batched product over the images, summed over them once at the end. On the conv block (B16 C32 32x32, 3x3)
 * this took 0.81x the kernel time of one Gemm per offset over X and g with batch and channels swapped (the two
 * Transposes cost more than the batch sum), which had measured 0.58x the CPU time of the Conv form (g as the
 * kernel: a Gemm only as wide as the kernel); one product over all offsets concatenated copies the whole column
 * matrix once more.
 */
const weightGrad = (x: Tensor, g: Tensor, geometry: ConvGeometry): Tensor => {
  const rank = geometry.kernel.length;
  const spatialAxes = geometry.kernel.map((_, i) => i + 2);
  const [images, channels] = x.shape as [number, number];
  const outChannels = g.shape[1]!;
  const windowShape = g.shape.slice(2);
  const padded = geometry.pads.some((p) => p !== 0) ? pad(x, [0, 0, ...geometry.pads.slice(0, rank), 0, 0, ...geometry.pads.slice(rank)]) : x;
  const gradRows = reshape(g, [images, outChannels, -1]);
  const strided = geometry.strides.some((s) => s !== 1);
  const perOffset = kernelOffsets(geometry.kernel).map((offset) => {
    const starts = offset.map((k, i) => k * geometry.dilations[i]!);
    const ends = starts.map((start, i) => start + (windowShape[i]! - 1) * geometry.strides[i]! + 1);
    const window = slice(padded, starts, ends, spatialAxes, strided ? geometry.strides : undefined);
    return unsqueeze(product(gradRows, reshape(window, [images, channels, -1]), { transB: true }), [3]);
  });
  const summed = reduceSum(perOffset.length === 1 ? perOffset[0]! : concat(perOffset, 3), [0], false);
  return reshape(summed, [outChannels, channels, ...geometry.kernel]);
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
