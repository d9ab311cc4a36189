/**
 * Scored groups from workers to the learner. A worker publishes each group on `<rollouts>.<epoch>.<group>`
 * (the Arrow bytes inline, or, above the server's message limit, in the object store with the message
 * naming it) before it acknowledges the task, so an acknowledged task always has its result durable.
 * The learner reads an epoch's subject from the start: results a previous learner process already received
 * count again after a restart, and every (epoch, group) is accepted once, whatever number of copies
 * redeliveries produced.
 */
import { DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { ScoredRollout } from "../rollout/rollout.ts";
import type { RunBus } from "./bus.ts";
import { decodeGroup, encodeGroup, type WireMetadata } from "./rollout-wire.ts";
import { taskId, type GroupTask } from "./tasks.ts";

const CONFIG = "Advgrpo-Config";
const ATTEMPT = "Advgrpo-Attempt";
const OBJECT = "Advgrpo-Object";
/** Room for headers and protocol framing under the server's max_payload. */
const HEADROOM = 16 * 1024;

export const publishGroup = async (bus: RunBus, task: GroupTask, metadata: WireMetadata, rows: readonly ScoredRollout[]): Promise<void> => {
  const bytes = encodeGroup(metadata, rows);
  const h = natsHeaders();
  h.set(CONFIG, task.configHash);
  h.set(ATTEMPT, String(task.attempt));
  let payload = bytes;
  if (bytes.length > bus.maxPayload - HEADROOM) {
    const name = `rollouts/${taskId(task)}`;
    await bus.objects.putBlob({ name }, bytes);
    h.set(OBJECT, name);
    payload = new Uint8Array();
  }
  await bus.js.publish(`${bus.names.rolloutSubject}.${task.epoch}.${task.groupId}`, payload, { msgID: taskId(task), headers: h });
};

interface EpochResultsOptions {
  readonly epoch: number;
  readonly configHash: string;
  readonly metadata: WireMetadata;
  /** Why a result was refused (unreadable, another pipeline, wrong policy version ...): the group is re-issued. */
  readonly onRefused: (groupId: number, reason: string) => void;
  /** Checks rows against what the group's task asked for; returns why they do not fit, or undefined. */
  readonly check: (groupId: number, rows: readonly ScoredRollout[]) => string | undefined;
}

/** The epoch's accepted groups, each exactly once, as they arrive. */
export class EpochResults {
  private readonly accepted = new Map<number, ScoredRollout[]>();
  private readonly waiting = new Map<number, (rows: ScoredRollout[]) => void>();
  private messages: ConsumerMessages | undefined;
  /** Copies of already accepted groups that were dropped (redeliveries, re-issues). */
  duplicates = 0;

  private readonly bus: RunBus;
  private readonly options: EpochResultsOptions;

  private constructor(bus: RunBus, options: EpochResultsOptions) {
    this.bus = bus;
    this.options = options;
  }

  static async open(bus: RunBus, options: EpochResultsOptions): Promise<EpochResults> {
    const results = new EpochResults(bus, options);
    const consumer = await bus.js.consumers.get(bus.names.rolloutStream, {
      filter_subjects: `${bus.names.rolloutSubject}.${options.epoch}.>`,
      deliver_policy: DeliverPolicy.All,
    });
    results.messages = await consumer.consume();
    // A reader that stops leaves the epoch waiting for groups that can no longer arrive: that ends the run.
    results.pump(results.messages).catch((e: Error) => bus.watch.broke(new Error(`reading epoch ${options.epoch}'s results from stream ${bus.names.rolloutStream}: ${e.message}`)));
    return results;
  }

  /** The rows of a group once a valid copy has arrived. */
  group(groupId: number): Promise<ScoredRollout[]> {
    const done = this.accepted.get(groupId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiting.set(groupId, resolve));
  }

  /** Groups asked for whose rows have not arrived. */
  awaited(): number[] {
    return [...this.waiting.keys()];
  }

  has(groupId: number): boolean {
    return this.accepted.has(groupId);
  }

  async close(): Promise<void> {
    await this.messages?.close();
  }

  private async pump(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) await this.receive(msg);
  }

  private async receive(msg: JsMsg): Promise<void> {
    const groupId = Number(msg.subject.slice(msg.subject.lastIndexOf(".") + 1));
    const source = `rollout message ${msg.subject} (stream sequence ${msg.seq})`;
    if (this.accepted.has(groupId)) {
      this.duplicates += 1;
      return;
    }
    const refuse = (reason: string) => {
      this.options.onRefused(groupId, `${source}: ${reason}`);
    };
    const hash = msg.headers?.get(CONFIG);
    if (hash !== this.options.configHash) return refuse(`sent by a worker running pipeline ${hash || "(none)"}, this run's is ${this.options.configHash}`);
    let bytes: Uint8Array = msg.data;
    const object = msg.headers?.get(OBJECT);
    if (object) {
      const blob = await this.bus.watch.retry(`reading object ${object}`, () => this.bus.objects.getBlob(object));
      if (!blob) return refuse(`its rows were in object '${object}', which is gone`);
      bytes = blob;
    }
    let rows: ScoredRollout[];
    try {
      rows = decodeGroup(source, bytes, this.options.metadata);
    } catch (e) {
      return refuse((e as Error).message);
    }
    const misfit = this.options.check(groupId, rows);
    if (misfit) return refuse(misfit);
    this.accepted.set(groupId, rows);
    if (object) await this.bus.watch.retry(`deleting object ${object}`, () => this.bus.objects.delete(object));
    this.waiting.get(groupId)?.(rows);
    this.waiting.delete(groupId);
  }
}
