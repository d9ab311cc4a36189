/**
 * A learner whose workers are missing waits for groups without end, which looks like a hang. So while
 * tasks wait on the queue and no worker has taken one for distributed.noWorkerWarning seconds, the learner
 * says so, naming where workers should connect, and repeats it every such interval until one does.
 * "Taken" is read off the shared worker consumer: its delivered sequence moves whenever a worker fetches,
 * and a task held unacknowledged means a worker is on it.
 */
import type { RunBus } from "./bus.ts";

interface IdleWorkersOptions {
  readonly url: string;
  readonly intervalMs: number;
  readonly say: (line: string) => void;
}

/** Starts watching; the returned function stops it. */
export const warnWhenNoWorker = (bus: RunBus, options: IdleWorkersOptions): (() => void) => {
  let delivered = -1;
  let since = performance.now();
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const info = await bus.watch.guard(bus.jsm.consumers.info(bus.names.taskStream, bus.names.taskConsumer));
      const now = performance.now();
      // A worker holding a task (sampling a long group) is at work even when nothing new is delivered.
      if (info.delivered.consumer_seq !== delivered || info.num_pending === 0 || info.num_ack_pending > 0) {
        delivered = info.delivered.consumer_seq;
        since = now;
        return;
      }
      const seconds = Math.round((now - since) / 100) / 10;
      options.say(
        `no worker has taken a task for ${seconds} s (${info.num_pending} waiting); is an advgrpo worker running against ${options.url}, stream ${bus.names.taskStream}? (start one with: advgrpo worker <this pipeline>)`,
      );
    } catch {
      // NATS away or the run faulted: the watch reports that; nothing to say about workers.
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), options.intervalMs);
  return () => clearInterval(timer);
};
