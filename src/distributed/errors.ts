/** What can go wrong between a learner, its workers and the NATS server, each naming what it concerns. */
import { Schema } from "effect";

/** The server could not be reached (or refused us) when connecting. */
export class NatsUnreachable extends Schema.TaggedError<NatsUnreachable>()("NatsUnreachable", {
  url: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot connect to NATS at ${this.url} (distributed.url): ${this.reason}. Is nats-server running with JetStream (nats-server -js)?`;
  }
}

/** A worker and the learner were started from different pipelines: their samples would not belong to one run. */
export class ConfigHashMismatch extends Schema.TaggedError<ConfigHashMismatch>()("ConfigHashMismatch", {
  run: Schema.String,
  expected: Schema.String,
  found: Schema.String,
  source: Schema.String,
}) {
  override get message() {
    return `${this.source}: run '${this.run}' was started by a learner with pipeline hash ${this.expected}, this pipeline hashes to ${this.found}; start workers with the learner's pipeline file`;
  }
}

/** A rollout message on the stream that cannot be read as a group of the run's rows. */
export class RolloutMessageInvalid extends Schema.TaggedError<RolloutMessageInvalid>()("RolloutMessageInvalid", {
  message: Schema.String,
}) {}

/** A group task that does not decode. */
export class TaskInvalid extends Schema.TaggedError<TaskInvalid>()("TaskInvalid", {
  subject: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `task on ${this.subject}: ${this.reason}`;
  }
}

/** Weights the learner named are not in the object store (deleted, or another run's bucket). */
export class WeightsMissing extends Schema.TaggedError<WeightsMissing>()("WeightsMissing", {
  bucket: Schema.String,
  name: Schema.String,
}) {
  override get message() {
    return `object store '${this.bucket}' has no weights '${this.name}' (was the run's bucket deleted, or is the learner from another run?)`;
  }
}

/** Exit status of a learner or worker that stopped because NATS stayed away: the run can be continued (EX_TEMPFAIL). */
export const EXIT_NATS_GONE = 75;

/** NATS stayed unreachable (or kept failing) past distributed.outageTimeout: the process stops instead of waiting forever. */
export class NatsGone extends Schema.TaggedError<NatsGone>()("NatsGone", {
  url: Schema.String,
  seconds: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return `NATS at ${this.url} stayed away for ${this.seconds} s (distributed.outageTimeout): ${this.reason}`;
  }
}

/** One of the run's streams (task queue, rollouts, or the streams behind its KV and object buckets) was deleted while the run used it. */
export class StreamDeleted extends Schema.TaggedError<StreamDeleted>()("StreamDeleted", {
  url: Schema.String,
  stream: Schema.String,
  run: Schema.String,
}) {
  override get message() {
    return `JetStream stream '${this.stream}' of run '${this.run}' on ${this.url} was deleted while the run used it; what it held (tasks, results or weights) is gone. Resume the learner with --resume (it re-creates the stream and re-issues what is missing) and restart the workers`;
  }
}
