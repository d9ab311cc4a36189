import { convOps } from "./conv.ts";
import { einsumOps } from "./einsum.ts";
import { elementwiseOps } from "./elementwise.ts";
import { linalgOps } from "./linalg.ts";
import { normOps } from "./norm.ts";
import { reduceOps } from "./reduce.ts";
import { shapeOps } from "./shape.ts";
import type { OpDef } from "./types.ts";

/** Every op the builder can construct, import and serialise (ai.onnx domain). */
export const opDefinitions: Readonly<Record<string, OpDef>> = {
  ...elementwiseOps,
  ...shapeOps,
  ...linalgOps,
  ...convOps,
  ...reduceOps,
  ...normOps,
  ...einsumOps,
};
export type { AttrKind, OpDef } from "./types.ts";
