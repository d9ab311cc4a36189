/**
 * DINOv2 preprocessing as an ONNX graph: images in [0,1] -> bicubic resize to the backbone's size ->
 * ImageNet normalisation. Bicubic uses PIL's kernel (a = -0.5) with antialiasing, as the Hugging Face
 * DINOv2 image processor resizes with PIL; at equal sizes the resize is the identity.
 */
import { Graph, type Tensor } from "../../graph/graph.ts";
import { div, sub } from "../../graph/ops.ts";
import { toOnnx } from "../../graph/serialize.ts";

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

const channelConstant = (graph: Graph, values: readonly number[], name: string): Tensor =>
  graph.constant(Float32Array.from(values), "float32", [1, 3, 1, 1], name);

/** The preprocessing graph for a fixed input size [batch,3,height,width] -> `pixel_values` [batch,3,size,size]. */
export const preprocessGraph = (batch: number, height: number, width: number, size: number): Uint8Array => {
  const graph = new Graph("dinov2_preprocess");
  const images = graph.input("images", "float32", [batch, 3, height, width]);
  const resized =
    height === size && width === size
      ? images
      : graph.op("Resize", [images, undefined, undefined, graph.ints([batch, 3, size, size])], {
          mode: "cubic",
          cubic_coeff_a: -0.5,
          antialias: 1,
          coordinate_transformation_mode: "half_pixel",
        })[0]!;
  const normalised = div(sub(resized, channelConstant(graph, IMAGENET_MEAN, "mean")), channelConstant(graph, IMAGENET_STD, "std"));
  graph.output(normalised, "pixel_values");
  return toOnnx(graph);
};

/** The same normalisation on the host, for training loops that already hold images at the backbone's size. */
export const normaliseInto = (image: Float32Array, out: Float32Array, offset: number): void => {
  const plane = image.length / 3;
  for (let c = 0; c < 3; c++) {
    const mean = IMAGENET_MEAN[c]!;
    const std = IMAGENET_STD[c]!;
    for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (image[c * plane + i]! - mean) / std;
  }
};
