/**
 * The shared-memory protocol between the optimiser's thread and its helper thread (adam-helper.ts,
 * adam-helper-thread.ts). The optimiser stages blocks of p and g into a few staging slots of an arena;
 * each slot moves Free -> Ready (staged by the optimiser) -> Claimed (by whichever thread runs it) ->
 * Done (by the helper) -> Free (the optimiser copied p back), or Claimed -> Free when the optimiser ran it
 * itself. Every transition is an Atomics operation, which also publishes the plain memory writes before it.
 */
export const SLOTS = 4;

export const FREE = 0;
export const READY = 1;
export const CLAIMED = 2;
export const DONE = 3;
export const FAILED = 4;

/** Int32 index of the counter the helper sleeps on; the optimiser bumps it after staging a block. */
export const WAKE = 0;
/** Int32 index of slot s's state. */
export const stateIndex = (slot: number): number => 1 + slot;
/** A job: arena id, byte offsets of p, g, m, v in that arena, element pairs. */
export const JOB_INTS = 6;
export const jobIndex = (slot: number): number => 1 + SLOTS + slot * JOB_INTS;
export const CONTROL_INTS = 1 + SLOTS + SLOTS * JOB_INTS;

/** Messages on the helper's port: an arena to address (with its memory) or one to let go. */
export type HelperMessage = { readonly arena: number; readonly memory: unknown } | { readonly forget: number };

/**
 * The helper's one message back, posted before it marks a slot FAILED, so the optimiser's thread finds it
 * (synchronously, receiveMessageOnPort) when it sees that state: what the kernel threw, as plain data.
 */
export interface HelperFailure {
  readonly failed: number;
  readonly name: string;
  readonly message: string;
  readonly stack: string;
}
