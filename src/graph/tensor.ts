/**
 * What a graph value is, apart from the graph holding it: the types op shape inference (op-defs/) works on.
 * They live here, not in graph.ts, so that the op definitions do not import the builder that imports them.
 */
import type { AnyTypedArray, DType } from "./dtype.ts";

export type Shape = readonly number[];
export type AttrValue = number | string | readonly number[] | readonly string[];
export type Attrs = Readonly<Record<string, AttrValue>>;

export interface TensorSpec {
  readonly dtype: DType;
  readonly shape: Shape;
}

/** A value as shape inference sees it. Shapes are static: every dimension is known when the graph is built. */
export interface TensorInfo extends TensorSpec {
  readonly name: string;
  /** The value of a constant (initialiser); shape inference reads it for Reshape, Slice, axes ... */
  readonly constValue?: AnyTypedArray;
}
