import type { Rule } from "../rule.ts";
import { convRules } from "./conv.ts";
import { elementwiseRules } from "./elementwise.ts";
import { importedRules } from "./imported.ts";
import { linalgRules } from "./linalg.ts";
import { normRules } from "./norm.ts";
import { reduceRules } from "./reduce.ts";
import { shapeRules } from "./shape.ts";

/** Backward rules by ONNX op type; an op missing here cannot sit between differentiated inputs and the loss. */
export const rules: Readonly<Record<string, Rule>> = {
  ...elementwiseRules,
  ...shapeRules,
  ...linalgRules,
  ...convRules,
  ...reduceRules,
  ...normRules,
  ...importedRules,
};
