/**
 * `advgrpo run <pipeline.yaml> [--resume]`: trains in a worker thread (src/pipeline/run-worker.ts), prints
 * one line per epoch and evaluation, and ends with the report's path and the headline metrics. Ctrl-C asks
 * the loop to stop after the epoch in flight (it checkpoints first); a second Ctrl-C exits at once, and a
 * resume then repeats at most that epoch.
 */
import { Worker } from "node:worker_threads";
import type { RunWorkerData } from "../pipeline/run-worker.ts";
import { EXIT_NATS_GONE } from "../distributed/errors.ts";
import { parseCommandArgs } from "./args.ts";
import { type ProgressBar, progressBar } from "./progress.ts";

const pct = (x: number | undefined) => (x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);

interface Summary {
  readonly epochsCompleted: number;
  readonly stoppedEarly: boolean;
  readonly generatorSteps: number;
  readonly rolloutRows: number;
  readonly report: string;
  readonly lastEvaluation?: Readonly<Record<string, number>>;
  readonly suspended?: boolean;
}

type Message =
  | { kind: "progress"; line: string }
  | { kind: "epochs"; done: number; total: number }
  | { kind: "done"; summary: Summary }
  | { kind: "failed"; tag: string; message: string };

/** A failure inside the loop, shown by the CLI with the loop's own error tag. */
class RunFailed extends Error {
  readonly _tag: string;
  constructor(tag: string, message: string) {
    super(message);
    this._tag = tag;
  }
}

const summaryText = (s: Summary): string => {
  const e = s.lastEvaluation;
  return [
    `${s.stoppedEarly ? "stopped" : "finished"} after ${s.epochsCompleted} epochs, ${s.generatorSteps} generator steps, ${s.rolloutRows} rollouts recorded`,
    `report: ${s.report}`,
    e ? `held-out: aligned-and-styled ${pct(e.alignedAndStyled)}, alignment ${pct(e.alignment)}, style score ${e.styleScore?.toFixed(3)}, DINO similarity ${e.dinoSimilarity?.toFixed(3)}` : "no evaluation yet",
  ].join("\n");
};

/** Resolves with the exit status: 0, or EXIT_NATS_GONE when NATS stayed away and the run stopped at its last checkpoint. */
export const runCommand = async (args: readonly string[], role: RunWorkerData["role"] = "run"): Promise<number> => {
  const { values, target: file } = parseCommandArgs(args, `usage: advgrpo ${role} <pipeline.yaml> [--resume]`, { resume: { type: "boolean" } });
  const stop = new SharedArrayBuffer(4);
  const data: RunWorkerData = { file, resume: values.resume ?? false, stop, role };
  const worker = new Worker(new URL("../pipeline/run-worker.ts", import.meta.url), { workerData: data });
  // The bar appears with the first epoch count (the worker knows run.epochs and where a resume starts).
  let bar: ProgressBar | undefined;
  const line = (text: string) => (bar ? bar.line(text) : process.stderr.write(`${text}\n`));
  const onSignal = () => {
    if (Atomics.load(new Int32Array(stop), 0) === 1) process.exit(130);
    Atomics.store(new Int32Array(stop), 0, 1);
    line("stopping after the current epoch (Ctrl-C again to quit now)");
  };
  process.on("SIGINT", onSignal);
  try {
    const summary = await new Promise<Summary>((resolve, reject) => {
      worker.on("message", (m: Message) => {
        if (m.kind === "progress") line(m.line);
        else if (m.kind === "epochs") {
          bar ??= progressBar(process.stderr, m.total, "epochs");
          bar.update(m.done);
        } else if (m.kind === "done") resolve(m.summary);
        else reject(new RunFailed(m.tag, m.message));
      });
      worker.on("error", reject);
      worker.on("exit", (code) => reject(new Error(`the training thread exited (code ${code}) without a result`)));
    });
    bar?.end();
    process.stdout.write(`${summaryText(summary)}\n`);
    return summary.suspended ? EXIT_NATS_GONE : 0;
  } finally {
    bar?.end();
    process.off("SIGINT", onSignal);
    await worker.terminate();
  }
};
