/**
 * A group the learner waits for is lost when nothing on the server can still produce it: no task is queued or
 * held by a worker, and no result for it is on the results stream. A worker stores a group's result before it
 * acknowledges the task, so reading the queue before the results leaves no moment in which a result is in
 * neither. Streams purged or deleted by hand, or a task a worker dropped as unreadable, leave such groups, and
 * waiting for them would be a silent hang; so the learner issues them again, saying why. A group counts as lost
 * only when two checks an interval apart find it so (the queue being empty in between).
 */
import type { RunBus } from "./bus.ts";

interface LostGroupsOptions {
  readonly intervalMs: number;
  /** The groups the learner waits for, by epoch (none accepted yet). */
  readonly awaited: () => ReadonlyMap<number, readonly number[]>;
  readonly reissue: (epoch: number, groupId: number, why: string) => void;
}

const key = (epoch: number, groupId: number) => `${epoch}.${groupId}`;

/** Starts checking; the returned function stops it. */
export const reissueLostGroups = (bus: RunBus, options: LostGroupsOptions): (() => void) => {
  let suspects = new Set<string>();
  let checking = false;

  const lostNow = async (): Promise<{ epoch: number; groupId: number }[]> => {
    const awaited = [...options.awaited()].filter(([, groups]) => groups.length > 0);
    if (awaited.length === 0) return [];
    const queue = await bus.watch.guard(bus.jsm.consumers.info(bus.names.taskStream, bus.names.taskConsumer));
    if (queue.num_pending + queue.num_ack_pending > 0) return [];
    const lost: { epoch: number; groupId: number }[] = [];
    for (const [epoch, groups] of awaited) {
      const prefix = `${bus.names.rolloutSubject}.${epoch}.`;
      const stored = (await bus.watch.guard(bus.jsm.streams.info(bus.names.rolloutStream, { subjects_filter: `${prefix}>` }))).state.subjects ?? {};
      for (const groupId of groups) if (!stored[`${prefix}${groupId}`]) lost.push({ epoch, groupId });
    }
    return lost;
  };

  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const lost = await lostNow();
      const confirmed = lost.filter((g) => suspects.has(key(g.epoch, g.groupId)));
      suspects = new Set(lost.filter((g) => !confirmed.includes(g)).map((g) => key(g.epoch, g.groupId)));
      for (const { epoch, groupId } of confirmed) {
        options.reissue(epoch, groupId, `group ${groupId} of epoch ${epoch} is lost: no task for it is queued or held by a worker and no result is on stream ${bus.names.rolloutStream} (was a stream purged or deleted, or its task dropped as unreadable?)`);
      }
    } catch {
      suspects = new Set(); // NATS away or the run faulted: the watch reports that; the next checks start over
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), options.intervalMs);
  return () => clearInterval(timer);
};
