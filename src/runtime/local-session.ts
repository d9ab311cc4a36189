import * as ort from "onnxruntime-node";
import { type ExecutionConfig, defaultExecution, sessionOptions } from "./execution.ts";
import { FeedError, NonFiniteError, SessionError } from "./errors.ts";
import { type Feeds, type Fetches, fromOrt, toOrt } from "./tensors.ts";

interface SessionSignature {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

/** What the code running graphs needs from a session (LocalSession is the one implementation). */
export interface Session {
  readonly model: string;
  readonly signature: SessionSignature;
  run(feeds: Feeds, fetch?: readonly string[]): Promise<Fetches>;
  release(): Promise<void>;
}

/**
 * An InferenceSession on the calling thread. `run` blocks that thread for the whole graph
 * (platform-notes), so the pipeline hosts these inside worker threads; tests and tools use them directly.
 */
export class LocalSession implements Session {
  readonly model: string;
  readonly signature: SessionSignature;
  private readonly session: ort.InferenceSession;

  private constructor(model: string, session: ort.InferenceSession) {
    this.model = model;
    this.session = session;
    this.signature = { inputNames: session.inputNames, outputNames: session.outputNames };
  }

  static async create(model: string, bytes: Uint8Array, config: ExecutionConfig = defaultExecution): Promise<LocalSession> {
    const options = sessionOptions(config);
    try {
      return new LocalSession(model, await ort.InferenceSession.create(bytes, options));
    } catch (cause) {
      throw new SessionError({ model, stage: "create", reason: (cause as Error).message });
    }
  }

  /** From a file path, so ORT resolves external data files beside the model. */
  static async createFromFile(model: string, path: string, config: ExecutionConfig = defaultExecution): Promise<LocalSession> {
    try {
      return new LocalSession(model, await ort.InferenceSession.create(path, sessionOptions(config)));
    } catch (cause) {
      throw new SessionError({ model, stage: "create", reason: (cause as Error).message });
    }
  }

  async run(feeds: Feeds, fetch: readonly string[] = this.signature.outputNames, checkFinite = true): Promise<Fetches> {
    for (const name of this.signature.inputNames) {
      if (!feeds[name]) throw new FeedError({ model: this.model, tensor: name, expected: "a feed", found: `nothing (feeds: ${Object.keys(feeds).join(", ")})` });
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrt(t)])), [...fetch]);
    } catch (cause) {
      throw new SessionError({ model: this.model, stage: "run", reason: (cause as Error).message });
    }
    const fetched = Object.fromEntries(Object.entries(results).map(([k, t]) => [k, fromOrt(t)]));
    if (checkFinite) assertFinite(this.model, fetched);
    return fetched;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Never swallow NaNs: the first non-finite output value stops the run with its tensor and position. */
const assertFinite = (model: string, fetches: Fetches): void => {
  for (const [name, t] of Object.entries(fetches)) {
    if (t.dtype !== "float32" && t.dtype !== "float64") continue;
    const data = t.data as Float32Array | Float64Array;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new NonFiniteError({ model, tensor: name, index: i, value: String(data[i]) });
    }
  }
};
