import { Schema } from "effect";

const Shape = Schema.Array(Schema.Number);

/** A node's inputs do not fit its op (shapes, dtypes, attributes); raised while the graph is built. */
export class GraphShapeError extends Schema.TaggedError<GraphShapeError>()("GraphShapeError", {
  op: Schema.String,
  node: Schema.String,
  inputShapes: Schema.Array(Shape),
  reason: Schema.String,
}) {
  override get message() {
    const shapes = this.inputShapes.map((s) => `[${s.join(",")}]`).join(", ");
    return `${this.op} node '${this.node}': ${this.reason} (input shapes ${shapes})`;
  }
}

/** An op the builder has no definition for (building or importing). */
export class UnknownOpError extends Schema.TaggedError<UnknownOpError>()("UnknownOpError", {
  op: Schema.String,
  node: Schema.String,
  known: Schema.Array(Schema.String),
}) {
  override get message() {
    return `op '${this.op}' (node '${this.node}') is not supported by the graph builder; supported ops: ${this.known.join(", ")}`;
  }
}

/** Reverse-mode differentiation met an op on the path from inputs to loss without a backward rule. */
export class NoGradientRuleError extends Schema.TaggedError<NoGradientRuleError>()("NoGradientRuleError", {
  op: Schema.String,
  node: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `no gradient rule for op '${this.op}' (node '${this.node}')${this.detail ? `: ${this.detail}` : ""}`;
  }
}

/** A .onnx file that cannot be parsed into a graph. */
export class OnnxImportError extends Schema.TaggedError<OnnxImportError>()("OnnxImportError", {
  source: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot import ONNX model '${this.source}': ${this.reason}`;
  }
}
