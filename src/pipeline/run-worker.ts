/**
 * The training loop's thread. ORT's session.run blocks its thread for the whole graph, so the CLI runs the
 * loop here and keeps the main thread free for progress output and Ctrl-C. Protocol:
 *   in   workerData { file, resume, stop: SharedArrayBuffer (Int32 flag, 1 = stop after this epoch), role }
 *   out  { kind: "progress", line } and { kind: "epochs", done, total } ... then { kind: "done", summary }
 *        or { kind: "failed", tag, message }
 */
import { parentPort, workerData } from "node:worker_threads";
import { Effect } from "effect";
import { loadPipelineFile } from "./config/load.ts";
import { runFolderOf } from "./run-folder.ts";
import { runTraining } from "./train.ts";

export interface RunWorkerData {
  readonly file: string;
  readonly resume: boolean;
  readonly stop: SharedArrayBuffer;
  /** learner: the pipeline must have a distributed: section (run takes either). */
  readonly role: "run" | "learner";
}

const { file, resume, stop, role } = workerData as RunWorkerData;
const flag = new Int32Array(stop);
const post = (message: unknown) => parentPort!.postMessage(message);

try {
  const config = await Effect.runPromise(loadPipelineFile(file));
  if (role === "learner" && !config.distributed) throw new Error(`${file}: advgrpo learner needs a distributed: section (distributed.url names the NATS server its workers use)`);
  const folder = runFolderOf(config);
  post({ kind: "progress", line: `advgrpo ${role} ${file} -> ${folder.root}` });
  const summary = await runTraining(config, folder, {
    resume: resume || config.run.resume,
    progress: (line) => post({ kind: "progress", line }),
    stopRequested: () => Atomics.load(flag, 0) === 1,
    epochsDone: (done, total) => post({ kind: "epochs", done, total }),
  });
  post({ kind: "done", summary: { ...summary, report: folder.report } });
} catch (error) {
  const e = error as Error & { _tag?: string };
  post({ kind: "failed", tag: e._tag ?? e.name, message: e.message });
}
