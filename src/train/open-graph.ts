/**
 * Sessions on compiled graphs of any size. A graph whose initialisers pass `fileAbove` bytes is written to a
 * scratch folder with its weights as external data and loaded from the file: past protobuf's 2 GB it has to be
 * (an SD3.5-class import holds about 10 GB of fp32 weights), and below it the file is what lets the graphs share
 * their weights. All the graphs of one GraphSessions point into one data file, where a tensor they hold in common
 * (an imported generator's frozen weights, held by the sampler's, the evaluation's and the learner's graph) is
 * written once; ORT's CPU provider maps external data read-only instead of copying it, and with prepacking off
 * (a packed copy per session otherwise) the sessions share that one copy in memory, the page cache's pages.
 * Measured on a 0.67 GiB import (src/bench/policy-memory.ts): see that file's header.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WeightFile, writeGraph } from "../graph/external-data.ts";
import type { ExecutionConfig } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import type { CompiledGraph } from "./train-graph.ts";

export const initialiserBytes = (compiled: CompiledGraph): number => compiled.graph.initializers.reduce((n, t) => n + t.constValue!.byteLength, 0);

/**
 * Graphs holding more initialiser bytes than this go through the shared weight file. The embedded DiT's policy
 * graphs feed their weights as inputs (a few kB of initialisers) and stay in memory; a real import's go to the file.
 */
export const SHARED_WEIGHTS_ABOVE_BYTES = 64 * 2 ** 20;

interface GraphFiles {
  /** Bytes of the model files (graphs without their external weights). */
  readonly modelBytes: number;
  /** Bytes of the shared weight file. */
  readonly weightBytes: number;
}

/** Opens sessions on compiled graphs; the files of large ones live in one scratch folder, removed by `release`. */
export class GraphSessions {
  private scratch: string | undefined;
  private weights: WeightFile | undefined;
  private modelBytes = 0;
  private readonly fileAbove: number;
  private readonly prepack: boolean;

  /**
   * `fileAbove`: initialiser bytes above which a graph goes to a file (tests lower it); `prepack`: let the CPU
   * kernels of file-loaded sessions prepack their weights (a copy each, faster MatMuls) instead of sharing the mapping.
   */
  constructor(fileAbove = SHARED_WEIGHTS_ABOVE_BYTES, prepack = false) {
    this.fileAbove = fileAbove;
    this.prepack = prepack;
  }

  async open(compiled: CompiledGraph, execution: ExecutionConfig): Promise<LocalSession> {
    if (initialiserBytes(compiled) <= this.fileAbove) return LocalSession.create(compiled.name, compiled.bytes, execution);
    this.scratch ??= mkdtempSync(join(tmpdir(), "advgrpo-graphs-"));
    this.weights ??= new WeightFile(join(this.scratch, "weights.data"));
    const path = join(this.scratch, `${compiled.name}.onnx`);
    this.modelBytes += writeGraph(compiled.graph, path, { weights: this.weights }).modelBytes;
    return LocalSession.createFromFile(compiled.name, path, { ...execution, prepackWeights: this.prepack });
  }

  /** The scratch folder, once a graph went to a file. */
  get folder(): string | undefined {
    return this.scratch;
  }

  /** What went to the scratch folder so far. */
  get files(): GraphFiles {
    return { modelBytes: this.modelBytes, weightBytes: this.weights?.bytes ?? 0 };
  }

  /** Removes the scratch files; call it after the sessions on them are released (ORT maps the data file). */
  release(): void {
    this.weights?.close();
    this.weights = undefined;
    if (this.scratch) rmSync(this.scratch, { recursive: true, force: true });
    this.scratch = undefined;
  }
}
