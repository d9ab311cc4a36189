/**
 * The faults that end a learner or worker instead of being waited out. A NATS outage is waited out for
 * distributed.outageTimeout (the connection reconnects by itself; operations are retried), then the process
 * stops with NatsGone. A deleted stream of the run (task queue, rollouts, or the streams behind its KV and
 * object buckets) cannot come back by waiting, so it stops the process at once with StreamDeleted naming the
 * stream: the server announces deletions on an advisory subject, and a stream deleted while we were
 * disconnected is found by looking for every stream when the connection comes back and whenever an
 * operation fails.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsGone, StreamDeleted } from "./errors.ts";

interface WatchOptions {
  readonly url: string;
  readonly runName: string;
  /** Every stream the run relies on. */
  readonly streams: readonly string[];
  /** How long an outage (or an operation that keeps failing) is waited out. */
  readonly outageTimeoutMs: number;
  /** Why the process pauses and resumes, for the user. */
  readonly report: (line: string) => void;
}

export interface RunWatch {
  /** The fault that ended the run, once there is one. */
  readonly fault: Error | undefined;
  /** Rejects with the fault when there is one; never resolves. */
  readonly faulted: Promise<never>;
  /** `operation`, or the run's fault if that comes first (so nothing waits on a server that is gone). */
  guard<T>(operation: Promise<T>): Promise<T>;
  /**
   * Runs an operation that is safe to repeat (publishes carry message ids, reads and creations are
   * idempotent), retrying it about once a second while NATS is away, until the outage budget is spent.
   */
  retry<T>(what: string, operation: () => Promise<T>): Promise<T>;
  /** Ends the run with `error` (the first fault wins), or with StreamDeleted when a deleted stream is why it broke. */
  broke(error: Error): void;
  close(): void;
}

const DELETED = "$JS.EVENT.ADVISORY.STREAM.DELETED.";
const RETRY_MS = 1000;

const streamMissing = (e: unknown): boolean => e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;

export const watchRun = (nc: NatsConnection, jsm: JetStreamManager, options: WatchOptions): RunWatch => {
  const { url, outageTimeoutMs } = options;
  const seconds = outageTimeoutMs / 1000;
  let fault: Error | undefined;
  let rejectFault!: (e: Error) => void;
  const faulted = new Promise<never>((_, reject) => (rejectFault = reject));
  faulted.catch(() => {}); // observed through guard and retry
  let outage: ReturnType<typeof setTimeout> | undefined;
  const fail = (error: Error) => {
    if (fault) return;
    fault = error;
    clearTimeout(outage);
    rejectFault(error);
  };
  const guard = <T>(operation: Promise<T>): Promise<T> => Promise.race([operation, faulted]);

  const checkStreams = async (): Promise<void> => {
    for (const stream of options.streams) {
      try {
        await guard(jsm.streams.info(stream));
      } catch (e) {
        if (streamMissing(e)) return fail(new StreamDeleted({ url, stream, run: options.runName }));
        if (fault) return;
        // Anything else (not connected, JetStream still starting) says nothing about the stream.
      }
    }
  };

  const deletions = nc.subscribe(`${DELETED}*`, {
    callback: (error, msg) => {
      const stream = msg?.subject.slice(DELETED.length);
      if (!error && stream && options.streams.includes(stream)) fail(new StreamDeleted({ url, stream, run: options.runName }));
    },
  });

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        options.report(`NATS ${url}: disconnected; pausing until it comes back (at most ${seconds} s, distributed.outageTimeout)`);
        outage ??= setTimeout(() => fail(new NatsGone({ url, seconds, reason: "the connection did not come back" })), outageTimeoutMs);
      } else if (s.type === "reconnect") {
        clearTimeout(outage);
        outage = undefined;
        options.report(`NATS ${url}: reconnected; resuming`);
        void checkStreams();
      }
    }
  })();

  const retry = async <T>(what: string, operation: () => Promise<T>): Promise<T> => {
    const since = performance.now();
    for (let attempt = 1; ; attempt++) {
      if (fault) throw fault;
      try {
        return await guard(operation());
      } catch (e) {
        if (fault) throw fault;
        // The run's own errors (missing weights, a foreign pipeline ...) are verdicts, not outages.
        if ((e as { _tag?: unknown })._tag !== undefined) throw e;
        await checkStreams();
        if (fault) throw fault;
        if (performance.now() - since >= outageTimeoutMs) {
          fail(new NatsGone({ url, seconds, reason: `${what} kept failing (${(e as Error).message})` }));
          throw fault;
        }
        options.report(`NATS ${url}: ${what} failed (${(e as Error).message}); retrying (attempt ${attempt + 1})`);
        await guard(new Promise((r) => setTimeout(r, Math.min(RETRY_MS, outageTimeoutMs))));
      }
    }
  };

  return {
    get fault() {
      return fault;
    },
    faulted,
    guard,
    retry,
    broke: (error) => void checkStreams().then(() => fail(error)),
    close: () => {
      clearTimeout(outage);
      deletions.unsubscribe();
    },
  };
};
