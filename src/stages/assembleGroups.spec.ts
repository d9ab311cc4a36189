import { describe, it } from "vitest";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import { assembleGroups, type AssembleGroupsOptions } from "./assembleGroups.ts";
import { GroupAssemblyError, GroupMemberFailed, IncompleteGroups, TooManyOpenGroups } from "./errors.ts";
import { fakeKey, fakeSampled, marbleScheduler } from "../../test/stages/testing.ts";
import { failedMember, type Member } from "./types.ts";

const row = (groupId: number, member: number, epoch = 0): SampledRollout => fakeSampled(fakeKey(groupId, member, epoch));
const oom = new Error("out of memory");
const failed = (key: RolloutKey) => failedMember(key, "sampleBatches", oom);

const members: Record<string, Member<SampledRollout>> = {
  a: row(0, 1),
  b: row(1, 0),
  c: row(0, 0),
  d: row(2, 1),
  e: row(1, 1),
  f: row(2, 0),
  F: failed(fakeKey(1, 0)),
};
const groups = { x: [row(0, 0), row(0, 1)], y: [row(1, 0), row(1, 1)], z: [row(2, 0), row(2, 1)] };

const options = (overrides: Partial<AssembleGroupsOptions> = {}): AssembleGroupsOptions => ({
  groupSize: 2,
  onMemberError: "fail",
  maxOpenGroups: 3,
  ...overrides,
});

describe("assembleGroups", () => {
  it("emits a group once all G members arrived, ordered by member, from interleaved groups", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const input = cold("-a-b-c-d-e-f-|", members);
      expectObservable(input.pipe(assembleGroups(options()))).toBe("-----x---y-z-|", groups);
      expectSubscriptions(input.subscriptions).toBe("^------------!");
    });
  });

  it("drop-group: a failed member drops its whole group, the others flow on", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const input = cold("-a-F-c-e-f-d-|", members);
      expectObservable(input.pipe(assembleGroups(options({ onMemberError: "drop-group" })))).toBe("-----x-----z-|", groups);
    });
  });

  it("fail: a failed member errors the stream with its group, member and cause, and unsubscribes the input", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const input = cold("-a-F-c-e-|", members);
      const error = new GroupMemberFailed({ stage: "sampleBatches", epoch: 0, groupId: 1, member: 0, cause: oom });
      expectObservable(input.pipe(assembleGroups(options()))).toBe("---#", undefined, error);
      expectSubscriptions(input.subscriptions).toBe("^--!");
    });
  });

  it("a dropped group frees its slot once all its members passed", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const input = cold("-F-e-a-c-|", members);
      expectObservable(input.pipe(assembleGroups(options({ onMemberError: "drop-group", maxOpenGroups: 1 })))).toBe("-------x-|", groups);
    });
  });

  it("errors clearly when more than maxOpenGroups groups wait at once", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const input = cold("-a-b-c-e-|", members);
      const error = new TooManyOpenGroups({ maxOpenGroups: 1, epoch: 0, groupId: 1 });
      expectObservable(input.pipe(assembleGroups(options({ maxOpenGroups: 1 })))).toBe("---#", undefined, error);
      expectSubscriptions(input.subscriptions).toBe("^--!");
    });
  });

  it("errors when the input ends with a group still waiting", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const input = cold("-a-b-c-|", members);
      const error = new IncompleteGroups({ groupSize: 2, groupIds: [1], arrived: [1] });
      expectObservable(input.pipe(assembleGroups(options()))).toBe("-----x-#", groups, error);
    });
  });

  it.each([
    ["a member arriving twice", row(0, 1), "arrived twice"],
    ["a member index outside the group", row(0, 2), "member index outside 0..1"],
    ["a member of another epoch under the same group id", row(0, 0, 1), "group 0 began with epoch 0 prompt 0, this member has epoch 1 prompt 0"],
  ])("never mixes groups: %s is an error", (_, intruder, reason) => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const input = cold("-a-i-|", { a: members.a!, i: intruder });
      const error = new GroupAssemblyError({ reason, epoch: intruder.epoch, groupId: 0, member: intruder.member });
      expectObservable(input.pipe(assembleGroups(options()))).toBe("---#", undefined, error);
    });
  });

  it("unsubscribes its input when the downstream unsubscribes", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const input = cold("-a-b-c-d-e-f-|", members);
      expectObservable(input.pipe(assembleGroups(options())), "^------!").toBe("-----x-", groups);
      expectSubscriptions(input.subscriptions).toBe("^------!");
    });
  });
});
