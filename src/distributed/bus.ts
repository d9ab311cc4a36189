/**
 * One run's JetStream resources on a NATS server: the task work queue and its shared worker consumer, the
 * rollout stream, the object store (weight snapshots, oversized groups) and the KV bucket (config hash,
 * newest weights), watched for outages and deletions (watch.ts). Learner and workers both open it; creation
 * is idempotent, so either may come first.
 */
import { connect } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsUnreachable } from "./errors.ts";
import { runNames, type RunNames } from "./names.ts";
import { watchRun, type RunWatch } from "./watch.ts";

interface BusOptions {
  readonly url: string;
  readonly runName: string;
  /** A task not acknowledged this long after delivery goes to another worker. */
  readonly ackDeadlineMs: number;
  /** How long an outage is waited out before the process stops (distributed.outageTimeout). */
  readonly outageTimeoutMs: number;
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
  /** Outages and deleted streams: every wait and retried operation goes through it. */
  readonly watch: RunWatch;
  close(): Promise<void>;
}

const ms = (n: number) => Math.round(n * 1e6);

export const openBus = async (options: BusOptions): Promise<RunBus> => {
  let nc: NatsConnection;
  try {
    // A failed first connection is the user's address or a server that is not running: fail at once. Later
    // the client reconnects for as long as it is let; the watch decides when an outage has lasted too long.
    nc = await connect({ servers: options.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: 5000 });
  } catch (e) {
    throw new NatsUnreachable({ url: options.url, reason: (e as Error).message });
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
    const watch = watchRun(nc, jsm, {
      url: options.url,
      runName: options.runName,
      streams: [names.taskStream, names.rolloutStream, `KV_${names.kvBucket}`, `OBJ_${names.objectBucket}`],
      outageTimeoutMs: options.outageTimeoutMs,
      report: options.onStatus ?? (() => {}),
    });
    const close = async () => {
      watch.close();
      await nc.close();
    };
    return { nc, js, jsm, names, kv, objects, maxPayload: nc.info?.max_payload ?? 1 << 20, watch, close };
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
