import type { ExecutionConfig } from "./execution.ts";
import type { Feeds } from "./tensors.ts";

/** Messages from the main thread to a session worker; `session` ids are chosen by the main thread. */
export type WorkerRequest =
  | { readonly id: number; readonly op: "create"; readonly session: number; readonly model: string; readonly bytes: Uint8Array; readonly config: ExecutionConfig }
  | { readonly id: number; readonly op: "run"; readonly session: number; readonly feeds: Feeds; readonly fetch?: readonly string[] }
  | { readonly id: number; readonly op: "release"; readonly session: number }
  | { readonly id: number; readonly op: "list" };

/** `error` is an encoded RuntimeError (see errors.ts), since class instances do not survive postMessage. */
export type WorkerReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: unknown };

/** The distinct buffers behind the tensors, for a postMessage transfer list (a buffer listed twice is an error). */
export const buffersOf = (tensors: Iterable<{ readonly data: { readonly buffer: ArrayBufferLike } }>): ArrayBuffer[] => [
  ...new Set([...tensors].map((t) => t.data.buffer as ArrayBuffer)),
];
