export { adam, adamW } from "./adam.ts";
export type { AdamConfig, WeightDecayMode } from "./adam.ts";
export { Ema, emaDecay } from "./ema.ts";
export type { EmaConfig } from "./ema.ts";
export {
  InvalidParameterSetError,
  MissingParameterError,
  NonFiniteGradientError,
  OptimizerConfigError,
  OptimizerStateError,
  ParameterShapeError,
} from "./errors.ts";
export { assertFiniteGradients, clipGradNorm, gradNorm } from "./grad-norm.ts";
export type { CommonOptimizerConfig, Optimizer, OptimizerAlgorithm, OptimizerState } from "./optimizer.ts";
export {
  cloneParams,
  copyParamsInto,
  elementCount,
  getMatching,
  getParam,
  indexByName,
  paramSet,
  paramTensor,
  sameShape,
  selectParams,
  totalCount,
  zerosLike,
} from "./param-set.ts";
export type { ParamSet, ParamTensor } from "./param-set.ts";
export { sgd } from "./sgd.ts";
export type { SgdConfig } from "./sgd.ts";
