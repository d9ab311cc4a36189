/** The embedded default backbone: where its committed weights live and the feature configuration that matches them. */
import { fileURLToPath } from "node:url";
import type { ExecutionConfig } from "../../runtime/execution.ts";
import { type BackboneConfig, FeatureExtractor } from "./features.ts";
import { DEFAULT_VIT, patchCount } from "./vit.ts";

export const DEFAULT_BACKBONE: BackboneConfig = {
  size: DEFAULT_VIT.imageSize,
  patchSize: DEFAULT_VIT.patchSize,
  registers: DEFAULT_VIT.registers,
  dim: DEFAULT_VIT.dim,
  pooling: "cls",
};

export const DEFAULT_BACKBONE_PATCHES = patchCount(DEFAULT_VIT);

export const DEFAULT_BACKBONE_ONNX = fileURLToPath(new URL("../../../weights/backbone/backbone.onnx", import.meta.url));

/** The committed backbone behind the DINOv2 feature path, exactly as a user's DINOv2 export would be loaded. */
export const loadDefaultBackbone = async (execution?: ExecutionConfig): Promise<FeatureExtractor> =>
  FeatureExtractor.open(DEFAULT_BACKBONE_ONNX, DEFAULT_BACKBONE, execution);
