/**
 * One run's JetStream resources on a NATS server: the task work queue and its shared worker consumer, the
 * rollout stream, the object store (weight snapshots, oversized groups) and the KV bucket (config hash,
 * newest weights). Learner and workers both open it; creation is idempotent, so either may come first.
 */
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsUnreachable } from "./errors.ts";
import { runNames, type RunNames } from "./names.ts";

export interface BusOptions {
  readonly url: string;
  readonly runName: string;
  /** A task not acknowledged this long after delivery goes to another worker. */
  readonly ackDeadlineMs: number;
  /** Called when the connection drops or comes back, so the user sees why the run pauses. */
  readonly onStatus?: (line: string) => void;
}

export interface RunBus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: RunNames;
  readonly kv: KV;
  readonly objects: ObjectStore;
  /** Largest message the server accepts; larger groups travel through the object store. */
  readonly maxPayload: number;
  close(): Promise<void>;
}

const ms = (n: number) => Math.round(n * 1e6);

export const openBus = async (options: BusOptions): Promise<RunBus> => {
  let nc: NatsConnection;
  try {
    // A failed first connection is the user's address or a server that is not running: fail at once.
    nc = await connect({ servers: options.url, reconnect: true, maxReconnectAttempts: 60, reconnectTimeWait: 1000, timeout: 5000 });
  } catch (e) {
    throw new NatsUnreachable({ url: options.url, reason: (e as Error).message });
  }
  if (options.onStatus) {
    const onStatus = options.onStatus;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") onStatus(`NATS ${options.url}: disconnected; pausing until it comes back`);
        else if (s.type === "reconnect") onStatus(`NATS ${options.url}: reconnected; resuming`);
      }
    })();
  }
  try {
    const names = runNames(options.runName);
    const jsm = await jetstreamManager(nc).catch((e: Error) => {
      throw new NatsUnreachable({ url: options.url, reason: `JetStream is not enabled on this server (start it with nats-server -js): ${e.message}` });
    });
    await ensureStream(jsm, { name: names.taskStream, subjects: [names.taskSubject], retention: RetentionPolicy.Workqueue });
    await ensureStream(jsm, { name: names.rolloutStream, subjects: [`${names.rolloutSubject}.>`], retention: RetentionPolicy.Limits });
    const consumer = {
      durable_name: names.taskConsumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ms(options.ackDeadlineMs),
      deliver_policy: DeliverPolicy.All,
      max_deliver: -1,
    };
    await jsm.consumers.add(names.taskStream, consumer).catch(async () => jsm.consumers.update(names.taskStream, names.taskConsumer, { ack_wait: consumer.ack_wait }));
    const js = jetstream(nc);
    const kv = await new Kvm(js).create(names.kvBucket, { history: 1 });
    const objects = await new Objm(js).create(names.objectBucket, { storage: StorageType.File });
    return { nc, js, jsm, names, kv, objects, maxPayload: nc.info?.max_payload ?? 1 << 20, close: () => nc.close() };
  } catch (e) {
    await nc.close();
    throw e;
  }
};

const ensureStream = async (jsm: JetStreamManager, config: { name: string; subjects: string[]; retention: RetentionPolicy }) => {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add({ ...config, storage: StorageType.File, duplicate_window: ms(10 * 60 * 1000) });
  }
};

/** Attempts of one operation across a NATS outage, about a second apart, before the run gives up. */
const OUTAGE_ATTEMPTS = 60;

/**
 * Runs a JetStream operation, waiting out an outage (the server restarting, a network blip): each failure is
 * reported and retried a second later; after OUTAGE_ATTEMPTS the last error stands. Only for operations that
 * are safe to repeat (publishes carry message ids, reads and creations are idempotent).
 */
export const surviveOutage = async <T>(url: string, what: string, operation: () => Promise<T>, report: (line: string) => void): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (e) {
      if (attempt >= OUTAGE_ATTEMPTS) throw e;
      report(`NATS ${url}: ${what} failed (${(e as Error).message}); retrying (${attempt}/${OUTAGE_ATTEMPTS})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
};
