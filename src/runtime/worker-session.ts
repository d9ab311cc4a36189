import { Worker } from "node:worker_threads";
import type { AnyTypedArray } from "../graph/dtype.ts";
import { decodeRuntimeError, SessionError } from "./errors.ts";
import { type ExecutionConfig, defaultExecution } from "./execution.ts";
import type { Session, SessionSignature } from "./local-session.ts";
import type { Feeds, Fetches, HostTensor } from "./tensors.ts";
import { buffersOf, type WorkerReply, type WorkerRequest } from "./worker-protocol.ts";

const sessionWorkerScript = new URL("./session-worker.ts", import.meta.url);

interface Pending {
  readonly model: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type WithoutId<R> = R extends WorkerRequest ? Omit<R, "id"> : never;
type Outgoing = WithoutId<WorkerRequest>;

/**
 * An exactly-sized copy in a fresh ArrayBuffer that can be transferred instead of cloned. Structured
 * clone would copy a view's whole underlying buffer, and Node Buffers sit in an untransferable pool
 * (`new Uint8Array` rather than `slice`, which stays a Buffer).
 */
const ownCopy = <T extends AnyTypedArray>(data: T): T => (data instanceof Uint8Array ? new Uint8Array(data) : data.slice()) as T;

/** The caller keeps its feeds (weights are fed again and again): the worker gets copies. */
const transferableFeeds = (feeds: Feeds): Feeds =>
  Object.fromEntries(Object.entries(feeds).map(([name, t]): [string, HostTensor] => [name, { ...t, data: ownCopy(t.data) }]));

/**
 * A worker thread hosting any number of sessions, so `session.run` blocks that thread and not the
 * event loop. Requests queue inside the worker. When the worker dies, every pending and later request
 * fails with a SessionError of stage "worker" rather than hanging.
 */
export class SessionHost {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 0;
  private nextSession = 0;
  /** Why the worker is gone, once it is. */
  private gone: string | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
    // Idle, the worker must not keep the process alive; a pending request does.
    worker.unref();
    worker.on("message", (reply: WorkerReply) => this.settle(reply));
    worker.on("error", (error) => this.fail(`worker crashed: ${error.message}`));
    worker.on("exit", (code) => this.fail(`worker exited with code ${code}`));
  }

  /** `script` is the worker body; tests substitute one that crashes. */
  static start(script: URL = sessionWorkerScript): SessionHost {
    return new SessionHost(new Worker(script));
  }

  async create(model: string, bytes: Uint8Array, config: ExecutionConfig = defaultExecution): Promise<WorkerSession> {
    const session = this.nextSession++;
    const own = ownCopy(bytes);
    const signature = (await this.send({ op: "create", session, model, bytes: own, config }, model, [own.buffer as ArrayBuffer])) as SessionSignature;
    return new WorkerSession(this, session, model, signature);
  }

  /** Models of the sessions the worker holds now, as the worker itself reports them. */
  openSessions(): Promise<string[]> {
    return this.send({ op: "list" }, "(session worker)") as Promise<string[]>;
  }

  async terminate(): Promise<void> {
    this.fail("worker was terminated");
    await this.worker.terminate();
  }

  send(request: Outgoing, model: string, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.gone) return Promise.reject(new SessionError({ model, stage: "worker", reason: this.gone }));
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { model, resolve, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  private settle(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.forget(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(decodeRuntimeError(reply.error));
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  private fail(reason: string): void {
    this.gone ??= reason;
    for (const [id, pending] of this.pending) {
      this.forget(id);
      pending.reject(new SessionError({ model: pending.model, stage: "worker", reason: this.gone }));
    }
  }
}

/** A session in a SessionHost's worker, used like a LocalSession. */
export class WorkerSession implements Session {
  readonly model: string;
  readonly signature: SessionSignature;
  private readonly host: SessionHost;
  private readonly id: number;
  private ownsHost = false;
  private released = false;

  constructor(host: SessionHost, id: number, model: string, signature: SessionSignature) {
    this.host = host;
    this.id = id;
    this.model = model;
    this.signature = signature;
  }

  /** A session in a worker of its own, terminated when the session is released. */
  static async create(model: string, bytes: Uint8Array, config: ExecutionConfig = defaultExecution): Promise<WorkerSession> {
    const host = SessionHost.start();
    try {
      const session = await host.create(model, bytes, config);
      session.ownsHost = true;
      return session;
    } catch (error) {
      await host.terminate();
      throw error;
    }
  }

  run(feeds: Feeds, fetch?: readonly string[]): Promise<Fetches> {
    if (this.released) return Promise.reject(new SessionError({ model: this.model, stage: "run", reason: "the session was released" }));
    const sent = transferableFeeds(feeds);
    return this.host.send({ op: "run", session: this.id, feeds: sent, ...(fetch ? { fetch } : {}) }, this.model, buffersOf(Object.values(sent))) as Promise<Fetches>;
  }

  /** Frees the session in the worker; after the worker died there is nothing left to free. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.ownsHost) return this.host.terminate();
    await this.host.send({ op: "release", session: this.id }, this.model).catch((error: unknown) => {
      if (!(error instanceof SessionError && error.stage === "worker")) throw error;
    });
  }
}
