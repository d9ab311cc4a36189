import { Schema } from "effect";

/** An execution provider the configuration asks for is not in this onnxruntime-node build. */
export class ProviderUnavailableError extends Schema.TaggedError<ProviderUnavailableError>()("ProviderUnavailableError", {
  provider: Schema.String,
  available: Schema.Array(Schema.String),
  howToInstall: Schema.String,
}) {
  override get message() {
    return `execution provider '${this.provider}' is not available in this onnxruntime-node install (available: ${this.available.join(", ")}). ${this.howToInstall}`;
  }
}

/** ORT refused to create a session or to run one. */
export class SessionError extends Schema.TaggedError<SessionError>()("SessionError", {
  model: Schema.String,
  stage: Schema.Literals(["create", "run"]),
  reason: Schema.String,
}) {
  override get message() {
    return `onnxruntime ${this.stage} failed for model '${this.model}': ${this.reason}`;
  }
}

/** Feeds that do not match the session's declared inputs. */
export class FeedError extends Schema.TaggedError<FeedError>()("FeedError", {
  model: Schema.String,
  tensor: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message() {
    return `model '${this.model}', input '${this.tensor}': expected ${this.expected}, found ${this.found}`;
  }
}

/** A NaN or infinity came out of a graph: the run stops here with the context to find it. */
export class NonFiniteError extends Schema.TaggedError<NonFiniteError>()("NonFiniteError", {
  model: Schema.String,
  tensor: Schema.String,
  index: Schema.Number,
  value: Schema.String,
}) {
  override get message() {
    return `model '${this.model}' produced ${this.value} in output '${this.tensor}' at flat index ${this.index}`;
  }
}
