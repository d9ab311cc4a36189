/**
 * Bounded micro-batches: the learner's loss graph may be compiled for fewer group members than a sampler batch
 * holds (learner.microBatch), since the activations it keeps for backward grow with its batch. A plan's feeds
 * (every tensor batch-first) are then cut into consecutive slices of that many members, each one graph run.
 * Every loss term is a mean over members (docs/algorithm.md §5), so the mean of the slices' gradients is the
 * gradient of the whole batch's loss, up to the order of float additions.
 */
import { hostTensor, type Feeds } from "../runtime/tensors.ts";

export const sliceFeeds = (feeds: Feeds, members: number): Feeds[] => {
  const entries = Object.entries(feeds);
  const batch = entries[0]?.[1].shape[0];
  if (batch === undefined || batch === members) return [feeds];
  for (const [name, t] of entries) {
    if (t.shape[0] !== batch) throw new Error(`micro-batches: feed '${name}' has leading dimension ${t.shape[0]}, the others ${batch} (every feed must be batch-first)`);
  }
  if (batch % members !== 0) throw new Error(`micro-batches: a batch of ${batch} members does not split into micro-batches of ${members}`);
  return Array.from({ length: batch / members }, (_, k) =>
    Object.fromEntries(
      entries.map(([name, t]) => {
        const per = t.data.length / batch;
        return [name, hostTensor(t.dtype, [members, ...t.shape.slice(1)], t.data.subarray(k * members * per, (k + 1) * members * per))];
      }),
    ),
  );
};
