/** The stages' errors: tagged, with the fields a user needs to find the row, group or option at fault. */
import { Schema } from "effect";

/** A stage option is out of range (caught when the operator is built, before any data flows). */
export class StageOptionError extends Schema.TaggedError<StageOptionError>()("StageOptionError", {
  stage: Schema.String,
  option: Schema.String,
  expected: Schema.String,
  found: Schema.Unknown,
}) {
  override get message(): string {
    return `${this.stage}: option '${this.option}' must be ${this.expected}, found ${String(this.found)}`;
  }
}

export function requirePositiveInteger(stage: string, option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new StageOptionError({ stage, option, expected: "a positive integer", found: value });
  }
  return value;
}

/** A port broke its contract (no result, or a result that does not line up with its input). */
export class PortContractError extends Schema.TaggedError<PortContractError>()("PortContractError", {
  stage: Schema.String,
  expected: Schema.String,
  found: Schema.String,
}) {
  override get message(): string {
    return `${this.stage}: the port returned ${this.found}, expected ${this.expected}`;
  }
}

/** A member of a group failed upstream and the run is configured with onMemberError: "fail". */
export class GroupMemberFailed extends Schema.TaggedError<GroupMemberFailed>()("GroupMemberFailed", {
  stage: Schema.String,
  epoch: Schema.Number,
  groupId: Schema.Number,
  member: Schema.Number,
  cause: Schema.Defect(),
}) {
  override get message(): string {
    return (
      `member ${this.member} of group ${this.groupId} (epoch ${this.epoch}) failed in ${this.stage}: ` +
      `${this.cause instanceof Error ? this.cause.message : String(this.cause)}; set onMemberError: "drop-group" to skip such groups instead`
    );
  }
}

/** More groups are waiting for members than the bound allows: members arrive too scattered. */
export class TooManyOpenGroups extends Schema.TaggedError<TooManyOpenGroups>()("TooManyOpenGroups", {
  maxOpenGroups: Schema.Number,
  epoch: Schema.Number,
  groupId: Schema.Number,
}) {
  override get message(): string {
    return (
      `group ${this.groupId} (epoch ${this.epoch}) would be open group number ${this.maxOpenGroups + 1}, ` +
      `over maxOpenGroups = ${this.maxOpenGroups}; raise maxOpenGroups or lower the sampling concurrency`
    );
  }
}

/** A member that cannot belong where it claims to (duplicate, out of range, or from another group). */
export class GroupAssemblyError extends Schema.TaggedError<GroupAssemblyError>()("GroupAssemblyError", {
  reason: Schema.String,
  epoch: Schema.Number,
  groupId: Schema.Number,
  member: Schema.Number,
}) {
  override get message(): string {
    return `member ${this.member} of group ${this.groupId} (epoch ${this.epoch}): ${this.reason}`;
  }
}

/** The input ended while groups still waited for members: rows were lost upstream. */
export class IncompleteGroups extends Schema.TaggedError<IncompleteGroups>()("IncompleteGroups", {
  groupSize: Schema.Number,
  groupIds: Schema.Array(Schema.Number),
  arrived: Schema.Array(Schema.Number),
}) {
  override get message(): string {
    const shown = this.groupIds.slice(0, 5).map((id, i) => `${id} (${this.arrived[i]}/${this.groupSize})`);
    return `the input ended with ${this.groupIds.length} incomplete group(s): ${shown.join(", ")}`;
  }
}

/** A group of another epoch reached an epoch's collection. */
export class EpochMismatch extends Schema.TaggedError<EpochMismatch>()("EpochMismatch", {
  expectedEpoch: Schema.Number,
  foundEpoch: Schema.Number,
  groupId: Schema.Number,
}) {
  override get message(): string {
    return `group ${this.groupId} belongs to epoch ${this.foundEpoch} but reached the collection of epoch ${this.expectedEpoch}`;
  }
}
