import { Schema } from "effect";

/** A sampler or schedule setting outside its valid range; raised when the setting is first used. */
export class FlowConfigError extends Schema.TaggedError<FlowConfigError>()("FlowConfigError", {
  /** The setting's path, e.g. "window.size". */
  field: Schema.String,
  found: Schema.String,
  expected: Schema.String,
}) {
  override get message() {
    return `flow setting '${this.field}': expected ${this.expected}, found ${this.found}`;
  }
}

/** The velocity callback returned a buffer that does not hold one velocity per latent element. */
export class VelocityOutputError extends Schema.TaggedError<VelocityOutputError>()("VelocityOutputError", {
  stepIndex: Schema.Number,
  expectedLength: Schema.Number,
  foundLength: Schema.Number,
}) {
  override get message() {
    return `velocity at sampling step ${this.stepIndex}: expected ${this.expectedLength} values (batch x latent), found ${this.foundLength}`;
  }
}
