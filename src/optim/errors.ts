import { Schema } from "effect";

const shapeText = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

const listPreview = (names: readonly string[], limit = 8): string =>
  names.length === 0
    ? "none"
    : names.length <= limit
      ? names.join(", ")
      : `${names.slice(0, limit).join(", ")}, ... (${names.length} in all)`;

/** A parameter (or gradient, or optimiser slot) looked up by name is not in the set. */
export class MissingParameterError extends Schema.TaggedError<MissingParameterError>()("MissingParameterError", {
  /** What was being looked up, e.g. "gradients" or "optimizer state import". */
  context: Schema.String,
  name: Schema.String,
  available: Schema.Array(Schema.String),
}) {
  override get message(): string {
    return `${this.context}: no tensor named "${this.name}" (available: ${listPreview(this.available)})`;
  }
}

/** Two tensors that must line up element for element have different shapes. */
export class ParameterShapeError extends Schema.TaggedError<ParameterShapeError>()("ParameterShapeError", {
  context: Schema.String,
  name: Schema.String,
  expected: Schema.Array(Schema.Number),
  found: Schema.Array(Schema.Number),
}) {
  override get message(): string {
    return `${this.context}: tensor "${this.name}" has shape ${shapeText(this.found)}, expected ${shapeText(this.expected)}`;
  }
}

/** A parameter set names the same tensor twice, or a tensor's data does not match its shape. */
export class InvalidParameterSetError extends Schema.TaggedError<InvalidParameterSetError>()("InvalidParameterSetError", {
  name: Schema.String,
  problem: Schema.String,
}) {
  override get message(): string {
    return `invalid parameter set: tensor "${this.name}" ${this.problem}`;
  }
}

/** A gradient holds NaN or Infinity: stepping on it would silently poison the weights. */
export class NonFiniteGradientError extends Schema.TaggedError<NonFiniteGradientError>()("NonFiniteGradientError", {
  name: Schema.String,
  index: Schema.Number,
  value: Schema.Number,
}) {
  override get message(): string {
    return (
      `gradient of "${this.name}" is ${this.value} at flat index ${this.index}: the loss or its backward pass diverged ` +
      "(lower the learning rate, check the loss inputs); no update was applied"
    );
  }
}

/** Optimiser or EMA state being imported does not belong to this optimiser. */
export class OptimizerStateError extends Schema.TaggedError<OptimizerStateError>()("OptimizerStateError", {
  field: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message(): string {
    return `optimizer state import: ${this.field} is ${this.found}, expected ${this.expected}`;
  }
}

/** A hyper-parameter outside its meaningful range. */
export class OptimizerConfigError extends Schema.TaggedError<OptimizerConfigError>()("OptimizerConfigError", {
  field: Schema.String,
  value: Schema.Number,
  expected: Schema.String,
}) {
  override get message(): string {
    return `optimizer config: ${this.field} = ${this.value}, expected ${this.expected}`;
  }
}

/** The optimiser's helper thread threw while updating a block; carries what it threw across the thread boundary. */
export class OptimizerHelperFailed extends Schema.TaggedError<OptimizerHelperFailed>()("OptimizerHelperFailed", {
  /** The staging slot of the block (helper-protocol.ts). */
  slot: Schema.Number,
  /** The thrown value's class name (e.g. RuntimeError for a WebAssembly trap). */
  causeName: Schema.String,
  causeMessage: Schema.String,
  /** Its stack in the helper thread, "" when it had none. */
  causeStack: Schema.String,
}) {
  override get message(): string {
    const frames = this.causeStack.split("\n").filter((line) => line.trimStart().startsWith("at "));
    const where = frames.length === 0 ? "" : `\n  in the helper thread:\n${frames.join("\n")}`;
    return `the optimiser's helper thread failed on a block (slot ${this.slot}): ${this.causeName}: ${this.causeMessage}${where}`;
  }
}
