import { InvalidParameterSetError, MissingParameterError, ParameterShapeError } from "./errors.ts";

/** One named fp32 tensor: a weight, its gradient, or an optimiser slot. `data` is row-major and shared, never copied implicitly. */
export interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Ordered named fp32 tensors. Order is the model's parameter order and is kept by every helper here. */
export type ParamSet = readonly ParamTensor[];

export const elementCount = (shape: readonly number[]): number => shape.reduce((count, dim) => count * dim, 1);

/** Builds a tensor (zeros unless `data` is given) after checking that the shape and data agree. */
export const paramTensor = (name: string, shape: readonly number[], data?: Float32Array): ParamTensor => {
  if (!shape.every((dim) => Number.isInteger(dim) && dim >= 0)) {
    throw new InvalidParameterSetError({ name, problem: `has shape [${shape.join(", ")}], expected non-negative integer dimensions` });
  }
  const count = elementCount(shape);
  if (data !== undefined && data.length !== count) {
    throw new InvalidParameterSetError({ name, problem: `holds ${data.length} values but its shape [${shape.join(", ")}] needs ${count}` });
  }
  return { name, shape: [...shape], data: data ?? new Float32Array(count) };
};

/** Validates names are unique and every tensor's data matches its shape. */
export const paramSet = (tensors: readonly ParamTensor[]): ParamSet => {
  const seen = new Set<string>();
  for (const tensor of tensors) {
    if (seen.has(tensor.name)) throw new InvalidParameterSetError({ name: tensor.name, problem: "appears twice" });
    seen.add(tensor.name);
    paramTensor(tensor.name, tensor.shape, tensor.data);
  }
  return tensors;
};

export const totalCount = (set: ParamSet): number => set.reduce((count, tensor) => count + tensor.data.length, 0);

export const zerosLike = (set: ParamSet): ParamSet => set.map((tensor) => paramTensor(tensor.name, tensor.shape));

export const cloneParams = (set: ParamSet): ParamSet =>
  set.map((tensor) => ({ name: tensor.name, shape: [...tensor.shape], data: tensor.data.slice() }));

export const indexByName = (set: ParamSet): ReadonlyMap<string, ParamTensor> => new Map(set.map((tensor) => [tensor.name, tensor]));

/** `context` says who was looking (e.g. "gradients"), so the error tells the user which set lacks the name. */
export const getParam = (set: ParamSet | ReadonlyMap<string, ParamTensor>, name: string, context = "parameter lookup"): ParamTensor => {
  const index = set instanceof Map ? set : indexByName(set as ParamSet);
  const found = index.get(name);
  if (found === undefined) throw new MissingParameterError({ context, name, available: [...index.keys()] });
  return found;
};

/** The tensor in `set` that lines up with `reference`: same name and same shape. */
export const getMatching = (
  set: ParamSet | ReadonlyMap<string, ParamTensor>,
  reference: Pick<ParamTensor, "name" | "shape">,
  context: string,
): ParamTensor => {
  const found = getParam(set, reference.name, context);
  if (!sameShape(found.shape, reference.shape)) {
    throw new ParameterShapeError({ context, name: reference.name, expected: [...reference.shape], found: [...found.shape] });
  }
  return found;
};

/** The named subset, in the given order (e.g. only the adapter weights of a model). Shares data with `set`. */
export const selectParams = (set: ParamSet, names: readonly string[], context = "parameter selection"): ParamSet => {
  const index = indexByName(set);
  return paramSet(names.map((name) => getParam(index, name, context)));
};

/** Overwrites every tensor of `target` in place with the same-named tensor of `source` (extra source tensors are ignored). */
export const copyParamsInto = (target: ParamSet, source: ParamSet, context = "parameter copy"): void => {
  const index = indexByName(source);
  const matched = target.map((tensor) => getMatching(index, tensor, context));
  target.forEach((tensor, i) => tensor.data.set(matched[i].data));
};

export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((dim, i) => dim === b[i]);
