/**
 * members  -a1-b0-a0-c1-b1-c0-|        (G = 2, any order, groups interleaved)
 * groups   --------[a0 a1]--[b0 b1]--[c0 c1]|
 *
 * A group is emitted only when all G members arrived, ordered by member index. A failed member
 * fails the stream ("fail") or drops its whole group ("drop-group"); the dropped group's other
 * members are discarded as they arrive. At most `maxOpenGroups` groups wait at once, and input
 * that ends with a group still waiting is an error: its missing rows were lost upstream.
 */
import { concatWith, defer, EMPTY, mergeMap, type OperatorFunction, throwError } from "rxjs";
import type { RolloutKey } from "../rollout/rollout.ts";
import {
  GroupAssemblyError,
  GroupMemberFailed,
  IncompleteGroups,
  requirePositiveInteger,
  TooManyOpenGroups,
} from "./errors.ts";
import { type FailedMember, isFailedMember, type Member } from "./types.ts";

export interface AssembleGroupsOptions {
  /** G. */
  readonly groupSize: number;
  readonly onMemberError: "fail" | "drop-group";
  /** Bound on groups waiting for members (dropped groups count until all their members passed). */
  readonly maxOpenGroups: number;
}

interface OpenGroup<R> {
  readonly first: RolloutKey;
  readonly rows: (R | undefined)[];
  arrived: number;
  dropped: boolean;
}

export function assembleGroups<R extends RolloutKey>(options: AssembleGroupsOptions): OperatorFunction<Member<R>, readonly R[]> {
  const groupSize = requirePositiveInteger("assembleGroups", "groupSize", options.groupSize);
  const maxOpenGroups = requirePositiveInteger("assembleGroups", "maxOpenGroups", options.maxOpenGroups);

  return (source) =>
    defer(() => {
      const open = new Map<number, OpenGroup<R>>();

      const groupOf = (key: RolloutKey): OpenGroup<R> => {
        const existing = open.get(key.groupId);
        if (existing !== undefined) return checkedBelongs(existing, key, groupSize);
        if (open.size >= maxOpenGroups) {
          throw new TooManyOpenGroups({ maxOpenGroups, epoch: key.epoch, groupId: key.groupId });
        }
        const group: OpenGroup<R> = { first: key, rows: new Array(groupSize), arrived: 0, dropped: false };
        open.set(key.groupId, checkedBelongs(group, key, groupSize));
        return group;
      };

      const arrive = (item: Member<R>): (readonly R[])[] => {
        const key = isFailedMember(item) ? item.key : item;
        const group = groupOf(key);
        group.arrived += 1;
        if (isFailedMember(item)) fail(group, item, options.onMemberError);
        else if (!group.dropped) group.rows[key.member] = item;
        if (group.arrived < groupSize) return [];
        open.delete(key.groupId);
        return group.dropped ? [] : [group.rows as R[]];
      };

      const noneWaiting = defer(() => {
        const waiting = [...open.values()].filter((group) => !group.dropped);
        if (waiting.length === 0) return EMPTY;
        return throwError(
          () =>
            new IncompleteGroups({
              groupSize,
              groupIds: waiting.map((group) => group.first.groupId),
              arrived: waiting.map((group) => group.arrived),
            }),
        );
      });

      return source.pipe(mergeMap(arrive), concatWith(noneWaiting));
    });
}

function fail<R>(group: OpenGroup<R>, failed: FailedMember, onMemberError: AssembleGroupsOptions["onMemberError"]): void {
  if (onMemberError === "fail") {
    const { epoch, groupId, member } = failed.key;
    throw new GroupMemberFailed({ stage: failed.stage, epoch, groupId, member, cause: failed.cause });
  }
  group.dropped = true;
  group.rows.fill(undefined);
}

/** Never mixes groups: a member must fit the group's epoch and prompt, and its slot must be free. */
function checkedBelongs<R>(group: OpenGroup<R>, key: RolloutKey, groupSize: number): OpenGroup<R> {
  const { epoch, groupId, member } = key;
  const reason =
    !Number.isInteger(member) || member < 0 || member >= groupSize
      ? `member index outside 0..${groupSize - 1}`
      : key.epoch !== group.first.epoch || key.promptIndex !== group.first.promptIndex
        ? `group ${groupId} began with epoch ${group.first.epoch} prompt ${group.first.promptIndex}, ` +
          `this member has epoch ${key.epoch} prompt ${key.promptIndex}`
        : group.rows[member] !== undefined
          ? "arrived twice"
          : undefined;
  if (reason !== undefined) throw new GroupAssemblyError({ reason, epoch, groupId, member });
  return group;
}
