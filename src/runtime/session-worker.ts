/**
 * The body of a session worker thread: it owns LocalSessions by id and runs one request at a time,
 * since two concurrent runs would only fight over the same intra-op threads.
 */
import { parentPort } from "node:worker_threads";
import { encodeRuntimeError, isRuntimeError, SessionError } from "./errors.ts";
import { LocalSession } from "./local-session.ts";
import type { Fetches } from "./tensors.ts";
import { buffersOf, type WorkerReply, type WorkerRequest } from "./worker-protocol.ts";

if (!parentPort) throw new Error("session-worker.ts is the body of a worker thread; start it through SessionHost");
const port = parentPort;

const sessions = new Map<number, LocalSession>();

const hosted = (request: WorkerRequest & { readonly session: number }): LocalSession => {
  const session = sessions.get(request.session);
  if (!session) throw new SessionError({ model: modelOf(request), stage: "run", reason: `session #${request.session} is not open in this worker (released already?)` });
  return session;
};

const modelOf = (request: WorkerRequest): string =>
  request.op === "create" ? request.model : request.op === "list" ? "(session worker)" : (sessions.get(request.session)?.model ?? `session #${request.session}`);

const handle = async (request: WorkerRequest): Promise<unknown> => {
  switch (request.op) {
    case "create": {
      const session = await LocalSession.create(request.model, request.bytes, request.config);
      sessions.set(request.session, session);
      return session.signature;
    }
    case "run":
      return hosted(request).run(request.feeds, request.fetch);
    case "release": {
      const session = hosted(request);
      sessions.delete(request.session);
      return session.release();
    }
    case "list":
      return [...sessions.values()].map((s) => s.model);
  }
};

const reply = async (request: WorkerRequest): Promise<void> => {
  try {
    const value = await handle(request);
    // Fetches move to the main thread without a copy; the worker keeps no reference to them.
    const transfer = request.op === "run" ? buffersOf(Object.values(value as Fetches)) : [];
    port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply, transfer);
  } catch (cause) {
    const error = isRuntimeError(cause)
      ? cause
      : new SessionError({ model: modelOf(request), stage: request.op === "create" ? "create" : "run", reason: (cause as Error).message });
    port.postMessage({ id: request.id, ok: false, error: encodeRuntimeError(error) } satisfies WorkerReply);
  }
};

let queue: Promise<void> = Promise.resolve();
port.on("message", (request: WorkerRequest) => {
  queue = queue.then(() => reply(request));
});
