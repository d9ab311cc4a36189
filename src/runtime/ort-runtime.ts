import { Context, Effect, Layer, type Scope } from "effect";
import { type FeedError, isRuntimeError, type NonFiniteError, type ProviderUnavailableError, type RuntimeError, SessionError } from "./errors.ts";
import type { ExecutionConfig } from "./execution.ts";
import { LocalSession, type Session, type SessionSignature } from "./local-session.ts";
import type { Feeds, Fetches } from "./tensors.ts";
import { SessionHost } from "./worker-session.ts";

/** An open session as the rest of the program sees it. */
export interface ModelSession {
  readonly model: string;
  readonly signature: SessionSignature;
  readonly run: (feeds: Feeds, fetch?: readonly string[]) => Effect.Effect<Fetches, SessionError | FeedError | NonFiniteError>;
}

export interface OrtRuntimeShape {
  /** A session for the model bytes, created once and released when the caller's scope closes. */
  readonly session: (model: string, bytes: Uint8Array) => Effect.Effect<ModelSession, SessionError | ProviderUnavailableError, Scope.Scope>;
  /** Models with an open session: a leak shows up here. */
  readonly openSessions: Effect.Effect<readonly string[], SessionError>;
}

/** Where sessions live: this thread or a worker; everything above is the same. */
interface SessionBackend {
  readonly open: (model: string, bytes: Uint8Array) => Promise<Session>;
  readonly openSessions: () => Promise<readonly string[]>;
}

/** Rejections from a session are RuntimeErrors already; anything else is ORT failing at `stage`. */
const asRuntimeError =
  (model: string, stage: "create" | "run") =>
  (cause: unknown): RuntimeError =>
    isRuntimeError(cause) ? cause : new SessionError({ model, stage, reason: cause instanceof Error ? cause.message : String(cause) });

const modelSession = (session: Session): ModelSession => ({
  model: session.model,
  signature: session.signature,
  run: (feeds, fetch) =>
    Effect.tryPromise({
      try: () => session.run(feeds, fetch),
      catch: asRuntimeError(session.model, "run"),
    }) as Effect.Effect<Fetches, SessionError | FeedError | NonFiniteError>,
});

const runtimeOn = (backend: SessionBackend): OrtRuntimeShape => ({
  session: (model, bytes) =>
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => backend.open(model, bytes), catch: asRuntimeError(model, "create") }) as Effect.Effect<
        Session,
        SessionError | ProviderUnavailableError
      >,
      (session) => Effect.promise(() => session.release()),
    ).pipe(Effect.map(modelSession)),
  openSessions: Effect.tryPromise({ try: () => backend.openSessions(), catch: asRuntimeError("(runtime)", "run") }) as Effect.Effect<
    readonly string[],
    SessionError
  >,
});

const inlineBackend = (config: ExecutionConfig): SessionBackend => {
  const open = new Set<Session>();
  return {
    open: async (model, bytes) => {
      const session = await LocalSession.create(model, bytes, config);
      open.add(session);
      return {
        model,
        signature: session.signature,
        run: (feeds, fetch) => session.run(feeds, fetch),
        release: () => {
          open.delete(session);
          return session.release();
        },
      };
    },
    openSessions: async () => [...open].map((s) => s.model),
  };
};

const workerBackend = (host: SessionHost, config: ExecutionConfig): SessionBackend => ({
  open: (model, bytes) => host.create(model, bytes, config),
  openSessions: () => host.openSessions(),
});

/** The worker lives exactly as long as the scope that acquired it. */
export const scopedSessionHost: Effect.Effect<SessionHost, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => SessionHost.start()),
  (host) => Effect.promise(() => host.terminate()),
);

export class OrtRuntime extends Context.Service<OrtRuntime, OrtRuntimeShape>()("advgrpo/OrtRuntime") {
  /** Sessions in one worker thread, so long runs leave the event loop live; the worker ends with the layer. */
  static layerWorker(config: ExecutionConfig): Layer.Layer<OrtRuntime> {
    return Layer.effect(OrtRuntime, Effect.map(scopedSessionHost, (host) => runtimeOn(workerBackend(host, config))));
  }

  /** Sessions on the calling thread: each run blocks the event loop (tools, tests). */
  static layerInline(config: ExecutionConfig): Layer.Layer<OrtRuntime> {
    return Layer.succeed(OrtRuntime, runtimeOn(inlineBackend(config)));
  }
}
