/**
 * A session on a compiled graph of any size: in memory while its weights fit one protobuf, else written
 * with its frozen weights as external data (graph/external-data.ts) to a scratch folder and loaded from the
 * file, as a policy graph built from an SD3.5-class import (about 10 GB of fp32 weights) must be.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeGraph } from "../graph/external-data.ts";
import { EMBED_LIMIT_BYTES } from "../graph/serialize.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import type { CompiledGraph } from "./train-graph.ts";

export const initialiserBytes = (compiled: CompiledGraph): number => compiled.graph.initializers.reduce((n, t) => n + t.constValue!.byteLength, 0);

/** Opens sessions on compiled graphs; the files of large ones live in one scratch folder, removed by `release`. */
export class GraphSessions {
  private scratch: string | undefined;
  private readonly embedLimit: number;

  /** `embedLimit`: initialiser bytes above which a graph goes to a file (tests lower it). */
  constructor(embedLimit = EMBED_LIMIT_BYTES) {
    this.embedLimit = embedLimit;
  }

  async open(compiled: CompiledGraph, execution: ExecutionConfig): Promise<LocalSession> {
    if (initialiserBytes(compiled) <= this.embedLimit) return LocalSession.create(compiled.name, compiled.bytes, execution);
    this.scratch ??= mkdtempSync(join(tmpdir(), "advgrpo-graphs-"));
    const path = join(this.scratch, `${compiled.name}.onnx`);
    writeGraph(compiled.graph, path, { external: "always" });
    return LocalSession.createFromFile(compiled.name, path, execution);
  }

  /** Removes the scratch files; call it after the sessions on them are released (ORT may map the data file). */
  release(): void {
    if (this.scratch) rmSync(this.scratch, { recursive: true, force: true });
    this.scratch = undefined;
  }
}
