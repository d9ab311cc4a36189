/**
 * The fault sweep of issue 12: hostile inputs and events against the `advgrpo` CLI, each classified as
 *   clean      refused with a one-line error naming the file/field/tensor (or repaired with nothing lost)
 *   unclear    refused, but the message does not say what is wrong where (or a stack trace)
 *   data-lost  accepted something it should have refused, or a resume that lost/invented rows or weights
 *   crash      killed by a signal, an exit code other than 0/1, or a hang past the time limit
 *
 *   node test/fault-sweep/sweep.ts [--only <category>] [--json out.json]
 *
 * Not a vitest file: it spawns the CLI ~90 times and takes minutes. Categories: pipeline, checkpoint, log,
 * weights, references, kill, two-processes, full-disk (needs root for a tmpfs mount), divergence, escape.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readRolloutLog } from "../../src/io/rollout-log/index.ts";
import { loadTrainingState, saveTrainingState } from "../../src/io/training-state.ts";
import { encodePng } from "../../src/io/png.ts";
import { checkpointFile, listCheckpoints, runFolder, type RunFolder } from "../../src/pipeline/run-folder.ts";
import { makeRng } from "../../src/util/prng.ts";
import { writeTinyGenerator, writeTinyPipeline } from "../pipeline/fixtures.ts";

type Outcome = "clean" | "unclear" | "data-lost" | "crash";
interface Result {
  readonly id: string;
  readonly category: string;
  readonly outcome: Outcome;
  readonly detail: string;
}
interface Case {
  readonly id: string;
  readonly category: string;
  readonly run: () => Promise<Result["outcome"] | { outcome: Outcome; detail: string }>;
}

const repo = resolve(import.meta.dirname, "../..");
const node = join(repo, "node_modules/.bin/node");
const LIMIT_MS = 300_000;
const work = mkdtempSync(join(tmpdir(), "advgrpo-sweep-"));

const cli = (args: string[], cwd = work): SpawnSyncReturns<string> =>
  spawnSync(node, [join(repo, "src/cli/main.ts"), ...args], { cwd, encoding: "utf8", timeout: LIMIT_MS, maxBuffer: 64 << 20 });

const lastLine = (text: string) => text.trim().split("\n").filter((l) => l.startsWith("advgrpo ")).at(-1) ?? text.trim().split("\n").at(-1) ?? "";

let lastDetail = "";
/** A command that must be refused: clean when it fails (exit 1) with a message matching `expected`. */
const refused = (res: SpawnSyncReturns<string>, expected: RegExp): Outcome => {
  lastDetail = `exit ${res.status ?? res.signal}: ${res.stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 300)}`;
  if (res.error || res.signal || (res.status !== 0 && res.status !== 1)) return "crash";
  if (res.status === 0) return "data-lost";
  if (/\n\s+at .*:\d+:\d+/.test(res.stderr)) return "unclear";
  return expected.test(res.stderr) ? "clean" : "unclear";
};

// ---------------------------------------------------------------- fixtures

const generator = await writeTinyGenerator(work);
/** A pipeline file over the tiny generator; extra YAML lines are appended (later keys may not repeat). */
const pipeline = (name: string, epochs: number): string => {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  return writeTinyPipeline(dir, generator, epochs);
};
const folderOf = (file: string): RunFolder => runFolder(join(file, "..", "runs", "tiny"));
const yamlCase = (id: string, text: string, expected: RegExp, category = "pipeline"): Case => ({
  id,
  category,
  run: async () => {
    const file = join(work, "yaml", `${id}.yaml`);
    mkdirSync(join(work, "yaml"), { recursive: true });
    writeFileSync(file, text);
    return refused(cli(["run", file]), expected);
  },
});
/** The tiny pipeline overridden by `extra` (a child file extending it); $DIR is the case's folder. */
const tinyChild = (dir: string, epochs: number, extra: string): string => {
  writeTinyPipeline(dir, generator, epochs);
  const file = join(dir, "case.yaml");
  writeFileSync(file, `extends: ./tiny.yaml\n${extra.replaceAll("$DIR", dir)}\n`);
  return file;
};
const tinyWith = (id: string, category: string, extra: string, expected: RegExp, setup: (dir: string) => unknown = () => {}): Case => ({
  id,
  category,
  run: async () => {
    const dir = join(work, id);
    mkdirSync(dir, { recursive: true });
    await setup(dir);
    return refused(cli(["run", tinyChild(dir, 2, extra)]), expected);
  },
});

// A finished 3-epoch run kept pristine; damage cases restore it, damage it and resume with the same file.
const basePipeline = pipeline("base", 3);
const base = folderOf(basePipeline);
const pristine = join(work, "pristine");
const baseRun = cli(["run", basePipeline]);
if (baseRun.status !== 0) throw new Error(`the base run failed: ${baseRun.stderr}`);
cpSync(base.root, pristine, { recursive: true });
const restoreBase = () => {
  rmSync(base.root, { recursive: true, force: true });
  cpSync(pristine, base.root, { recursive: true });
};
const rows = (folder: string) => readRolloutLog(join(folder, "rollouts.arrows")).rows.map((r) => `${r.epoch}/${r.groupId}/${r.member}/${r.reward}`);
const finalWeights = async (folder: RunFolder) => {
  const last = listCheckpoints(folder).at(-1);
  return last ? JSON.stringify((await loadTrainingState(last)).weights.generator!.map((p) => Array.from(p.data))) : "";
};
const pristineWeights = await finalWeights(runFolder(pristine));
const pristineRows = rows(pristine);
/** Clean when the folder's rows and final generator weights equal the reference's; otherwise data-lost, saying what differs. */
const sameAs = async (folder: RunFolder, expectedRows: string[], expectedWeights: string): Promise<{ outcome: Outcome; detail: string }> => {
  let found: string[];
  try {
    found = rows(folder.root);
  } catch (error) {
    return { outcome: "data-lost", detail: `${lastDetail}; the log no longer reads back: ${(error as Error).message.slice(0, 160)}` };
  }
  const firstDiff = expectedRows.findIndex((r, i) => found[i] !== r);
  if (found.length !== expectedRows.length || firstDiff >= 0) {
    return { outcome: "data-lost", detail: `${lastDetail}; ${found.length} rows vs ${expectedRows.length}, first difference at row ${firstDiff}: ${found[firstDiff]} vs ${expectedRows[firstDiff]}` };
  }
  if ((await finalWeights(folder)) !== expectedWeights) return { outcome: "data-lost", detail: `${lastDetail}; final generator weights differ` };
  return { outcome: "clean", detail: lastDetail };
};
const recorded = async (epoch: number, key: string) => Number((await loadTrainingState(checkpointFile(base, epoch))).metadata[key]);

/** Damage the restored base run, resume it: refused matching `expected`, or (expected undefined) repaired to the pristine end state. */
const damageCase = (id: string, category: string, damage: () => Promise<void> | void, expected?: RegExp): Case => ({
  id,
  category,
  run: async () => {
    restoreBase();
    await damage();
    const res = cli(["run", basePipeline, "--resume"]);
    if (expected) {
      const outcome = refused(res, expected);
      // A refusal must leave the logs as they were: nothing cut, nothing extended.
      return outcome;
    }
    const notice = res.stderr.split("\n").find((l) => /resuming from|removed|damaged/.test(l)) ?? "";
    lastDetail = `exit ${res.status ?? res.signal}: ${notice.slice(0, 200)}`;
    if (res.signal || (res.status !== 0 && res.status !== 1)) return "crash";
    if (res.status !== 0) return /without inventing data|damaged|cannot resume/.test(res.stderr) ? "clean" : "unclear";
    return sameAs(base, pristineRows, pristineWeights);
  },
});
const flipByte = (file: string, at: (size: number) => number) => {
  const bytes = readFileSync(file);
  const i = at(bytes.length);
  bytes[i] = bytes[i]! ^ 0x04;
  writeFileSync(file, bytes);
};

// ---------------------------------------------------------------- cases

const cases: Case[] = [
  // bad pipeline files
  yamlCase("empty-file", "", /empty/),
  yamlCase("comments-only", "# nothing\n", /empty/),
  yamlCase("invalid-yaml", "run: [1, 2\n", /not valid YAML/),
  yamlCase("tab-indent", "run:\n\tepochs: 2\n", /not valid YAML/),
  yamlCase("alias-bomb", ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(`*a${i}`).join(", ")}]`)].join("\n"), /yaml:0:0: not valid YAML: .*alias/),
  yamlCase("proto-top", "__proto__:\n  epochs: 2\nrun: { epochs: 1 }\n", /__proto__: expected a known key/),
  yamlCase("proto-nested", "run:\n  __proto__: { epochs: 2 }\n", /run\.__proto__: expected a known key/),
  yamlCase("unknown-key", "learner: { lerning_rate: 1 }\n", /learner\.lerning_rate: expected a known key/),
  yamlCase("wrong-type", "learner: { lr: fast }\n", /learner\.lr: expected number/),
  yamlCase("negative-lr", "learner: { lr: -1 }\n", /learner\.lr/),
  yamlCase("nan-lr", "learner: { lr: .nan }\n", /learner\.lr/),
  yamlCase("epochs-1e9", "run: { epochs: 1000000000 }\n", /run\.epochs: .*at most 1000000/),
  yamlCase("groupsize-1e5", "sampler: { groupSize: 100000 }\n", /sampler\.groupSize: .*at most 1024/),
  yamlCase("prompts-1e7", "sampler: { promptsPerEpoch: 10000000 }\n", /sampler\.promptsPerEpoch: .*at most 65536/),
  yamlCase("imagesize-1e5", "world: { imageSize: 100000 }\n", /world\.imageSize: .*at most 1024/),
  yamlCase("inputsize-1e5", "features: { inputSize: 100000 }\n", /features\.inputSize: .*at most 2048/),
  yamlCase("batchrows-1e9", "record: { batchRows: 1000000000 }\n", /record\.batchRows: .*at most 65536/),
  yamlCase("seeds-1000", `eval: { seeds: [${Array.from({ length: 1000 }, (_, i) => i).join(", ")}] }\n`, /eval\.seeds: .*at most 64/),
  yamlCase("workers", "compute: { workers: 4 }\n", /compute\.workers: expected a known key/),
  yamlCase("steps-over-groups", "sampler: { promptsPerEpoch: 2 }\nlearner: { stepsPerEpoch: 3 }\n", /learner\.stepsPerEpoch: .*at most 2/),
  yamlCase("window-over-steps", "sampler: { steps: 2, window: { start: 1, size: 4 } }\n", /sampler\.window/),
  yamlCase("frozen-untrained", "rewards: [{ kind: frozen-discriminator }]\n", /rewards\.0: a frozen discriminator without a checkpoint/),
  yamlCase("extends-missing", "extends: ./nowhere.yaml\n", /nowhere\.yaml.*no such file/),
  yamlCase("extends-unknown-preset", "extends: no-such-preset\n", /no preset named "no-such-preset"/),
  yamlCase("extends-self", "extends: ./extends-self.yaml\n", /cycle|extends/),
  yamlCase("not-a-mapping", "- a\n- b\n", /expected a mapping/),
  yamlCase("onnx-without-paths", "generator: { kind: onnx }\n", /generator\.onnx/),
  {
    id: "pipeline-is-a-folder",
    category: "pipeline",
    run: async () => refused(cli(["run", work]), /cannot read pipeline file|EISDIR|directory/),
  },
  {
    id: "pipeline-missing",
    category: "pipeline",
    run: async () => refused(cli(["run", join(work, "nope.yaml")]), /nope\.yaml.*no such file/),
  },
  {
    id: "pipeline-binary",
    category: "pipeline",
    run: async () => {
      const file = join(work, "binary.yaml");
      writeFileSync(file, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
      return refused(cli(["run", file]), /binary\.yaml/);
    },
  },
  // missing files name their field
  tinyWith("missing-generator", "weights", "", /generator\.checkpoint: .*no-such\.safetensors/, () => {}),
  tinyWith("missing-backbone", "weights", "features: { backbone: $DIR/no-backbone.onnx }", /features\.backbone: .*no-backbone\.onnx/),
  tinyWith("missing-prompts", "references", "prompts: { train: $DIR/no-prompts.txt }\nreferences: { source: $DIR }", /prompts\.train: .*no-prompts\.txt/),
  tinyWith("missing-references", "references", "references: { source: $DIR/no-refs }", /references\.source: .*no-refs/),
  tinyWith("missing-frozen-head", "weights", "rewards: [{ kind: adversarial-dino }, { kind: frozen-discriminator, checkpoint: $DIR/no-head.safetensors }]", /rewards\[1\]\.checkpoint: .*no-head\.safetensors/),
  // corrupt weights files
  tinyWith("generator-garbage", "weights", "generator: { checkpoint: $DIR/garbage.safetensors }", /garbage\.safetensors/, (dir) => writeFileSync(join(dir, "garbage.safetensors"), "not a safetensors file at all")),
  tinyWith("generator-truncated", "weights", "generator: { checkpoint: $DIR/cut.safetensors }", /cut\.safetensors/, (dir) => {
    const bytes = readFileSync(generator);
    writeFileSync(join(dir, "cut.safetensors"), bytes.subarray(0, bytes.length >> 1));
  }),
  tinyWith("generator-header-lies", "weights", "generator: { checkpoint: $DIR/lies.safetensors }", /lies\.safetensors/, (dir) => {
    const bytes = Buffer.from(readFileSync(generator));
    bytes.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(join(dir, "lies.safetensors"), bytes);
  }),
  tinyWith("frozen-head-wrong-shape", "weights", "rewards: [{ kind: adversarial-dino }, { kind: frozen-discriminator, checkpoint: $DIR/head.safetensors }]", /rewards\[1\]\.checkpoint/, (dir) =>
    saveTrainingState(join(dir, "head.safetensors"), { weights: { discriminator: [{ name: "w1", shape: [1], data: new Float32Array(1) }] }, optimizers: {}, metadata: {} }),
  ),
  // reference sets
  ...(
    [
      ["manifest-invalid-json", "{ not json", /manifest\.json.*not valid JSON/],
      ["manifest-not-object", "[1, 2]", /manifest\.json.*must be an object/],
      ["manifest-escape", JSON.stringify({ "p": ["../../../../../../etc/passwd"] }), /outside the set's folder/],
      ["manifest-absolute", JSON.stringify({ "p": ["/etc/passwd"] }), /outside the set's folder/],
      ["manifest-missing-image", JSON.stringify({ "p": ["gone.png"] }), /gone\.png.*cannot be read/],
      ["manifest-not-png", JSON.stringify({ "p": ["text.png"] }), /text\.png/],
      ["manifest-empty-list", JSON.stringify({ "p": [] }), /non-empty list/],
    ] as const
  ).map(([id, manifest, expected]) =>
    tinyWith(id, "references", "prompts: { train: $DIR/prompts.txt, heldOut: $DIR/prompts.txt }\nreferences: { source: $DIR/refs }", expected, (dir) => {
      mkdirSync(join(dir, "refs"), { recursive: true });
      writeFileSync(join(dir, "prompts.txt"), "p\nq\n");
      writeFileSync(join(dir, "refs", "manifest.json"), manifest);
      writeFileSync(join(dir, "refs", "text.png"), "hello");
      writeFileSync(join(dir, "refs", "ok.png"), encodePng({ data: new Float32Array(3 * 4 * 4).fill(0.5), height: 4, width: 4 }));
    }),
  ),
  // path escapes
  yamlCase("run-name-dotdot", "run: { name: .. }\n", /run\.name: .*inside run\.outputDir/, "escape"),
  yamlCase("run-name-traversal", "run: { name: ../../etc }\n", /run\.name: .*inside run\.outputDir/, "escape"),
  yamlCase("run-name-separator", "run: { name: a/b }\n", /run\.name: .*inside run\.outputDir/, "escape"),
  yamlCase("run-name-absolute", "run: { name: /tmp/x }\n", /run\.name: .*inside run\.outputDir/, "escape"),
  // corrupt checkpoints
  damageCase("ckpt-bitflip-latest", "checkpoint", () => flipByte(checkpointFile(base, 2), (n) => n - 7)),
  damageCase("ckpt-bitflip-middle", "checkpoint", () => flipByte(checkpointFile(base, 2), (n) => n >> 1)),
  damageCase("ckpt-truncated-latest", "checkpoint", () => truncateSync(checkpointFile(base, 2), statSync(checkpointFile(base, 2)).size - 64)),
  damageCase("ckpt-empty-latest", "checkpoint", () => truncateSync(checkpointFile(base, 2), 0)),
  damageCase("ckpt-garbage-latest", "checkpoint", () => writeFileSync(checkpointFile(base, 2), "garbage")),
  damageCase("ckpt-header-bitflip", "checkpoint", () => flipByte(checkpointFile(base, 2), () => 20)),
  damageCase("ckpt-all-damaged", "checkpoint", () => {
    for (const f of listCheckpoints(base)) flipByte(f, (n) => n - 7);
  }, /without inventing data[\s\S]*damaged/),
  damageCase("ckpt-partial-leftover", "checkpoint", () => writeFileSync(join(base.checkpoints, "epoch-0003.safetensors.partial-999999999"), "x")),
  damageCase("ckpt-unhashed", "checkpoint", async () => {
    for (const f of listCheckpoints(base)) {
      const state = await loadTrainingState(f);
      // An old-format checkpoint: rewritten with the hash metadata stripped.
      const bytes = readFileSync(f);
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
      delete header.__metadata__.tensorSha256;
      const text = Buffer.from(JSON.stringify(header).padEnd(headerLength, " "));
      if (text.length !== headerLength) throw new Error("header grew");
      text.copy(bytes, 8);
      writeFileSync(f, bytes);
      void state;
    }
  }, /no content hashes|cannot be verified/),
  // corrupt logs
  damageCase("log-cut-last-epoch", "log", async () => truncateSync(base.rollouts, Math.floor(((await recorded(1, "rolloutLogBytes")) + (await recorded(2, "rolloutLogBytes"))) / 2))),
  damageCase("log-cut-first-epoch", "log", async () => truncateSync(base.rollouts, (await recorded(0, "rolloutLogBytes")) - 9), /without inventing data[\s\S]*rollouts\.arrows/),
  damageCase("log-deleted", "log", () => rmSync(base.rollouts), /without inventing data[\s\S]*rollouts\.arrows is missing/),
  damageCase("log-garbage-appended", "log", () => writeFileSync(base.rollouts, Buffer.concat([readFileSync(base.rollouts), Buffer.from("trailing garbage after a crash")]))),
  damageCase("log-bitflip-in-body", "log", async () => flipByte(base.rollouts, () => (recordedSync.bytes0 ?? 0) + 3000)),
  damageCase("metrics-cut", "log", async () => truncateSync(join(base.root, "metrics.jsonl"), (await recorded(2, "metricsBytes")) - 3)),
  damageCase("metrics-garbage-line", "log", () => {
    const file = join(base.root, "metrics.jsonl");
    const text = readFileSync(file, "utf8").split("\n");
    text[1] = "{ this is not json";
    writeFileSync(file, text.join("\n"));
  }, /metrics\.jsonl (line \d+ is not a JSON record|has no line end at byte)/),
  damageCase("metrics-deleted", "log", () => rmSync(join(base.root, "metrics.jsonl")), /metrics\.jsonl is missing/),
  damageCase("ckpt-claims-more-bytes", "log", async () => {
    // The checkpoint's recorded length beyond the file: the log must not be extended with zeros.
    truncateSync(base.rollouts, (await recorded(2, "rolloutLogBytes")) - 1);
  }),
  {
    id: "inspect-1e8-rows",
    category: "log",
    run: async () => {
      restoreBase();
      const bytes = readFileSync(base.rollouts);
      // Patch the first record batch header's row count (an int64 in its flatbuffer) to 1e8 by search.
      const { Message } = await import("apache-arrow");
      let at = 0;
      for (;;) {
        const len = bytes.readInt32LE(at + 4);
        const m = Message.decode(bytes.subarray(at + 8, at + 8 + len));
        if (m.isRecordBatch()) {
          const rows = BigInt(m.header().length);
          const meta = bytes.subarray(at + 8, at + 8 + len);
          for (let i = 0; i + 8 <= meta.length; i++) if (meta.readBigInt64LE(i) === rows) meta.writeBigInt64LE(100_000_000n, i);
          break;
        }
        at += 8 + len + Number(m.bodyLength);
      }
      writeFileSync(base.rollouts, bytes);
      const res = cli(["inspect", base.root]);
      lastDetail = `exit ${res.status ?? res.signal}: ${res.stderr.slice(0, 200)} ${res.stdout.split("\n").find((l) => /truncat|cut/i.test(l)) ?? ""}`;
      if (res.signal || (res.status !== 0 && res.status !== 1)) return "crash";
      return /declares|truncated|cut/.test(res.stderr + res.stdout) ? "clean" : "unclear";
    },
  },
  {
    id: "inspect-not-arrow",
    category: "log",
    run: async () => {
      restoreBase();
      writeFileSync(base.rollouts, "this is not arrow");
      return refused(cli(["inspect", base.root]), /rollouts\.arrows.*not an Arrow rollout log/);
    },
  },
  {
    id: "inspect-empty-log",
    category: "log",
    run: async () => {
      restoreBase();
      writeFileSync(base.rollouts, "");
      return refused(cli(["inspect", base.root]), /rollouts\.arrows.*empty/);
    },
  },
  {
    id: "inspect-missing-folder",
    category: "log",
    run: async () => refused(cli(["inspect", join(work, "no-run")]), /no-run/),
  },
  // divergence
  tinyWith("disc-lr-1e6", "divergence", "discriminator: { dTimes: 2, hiddenWidth: 32, warmupEpochs: 0, lr: 1.0e6 }", /training diverged .*discriminator\.lr/),
  tinyWith("learner-lr-1e6", "divergence", "learner: { lr: 1.0e6 }", /training diverged .*learner\.lr/),
  tinyWith("generator-nan-weights", "divergence", "generator: { checkpoint: $DIR/nan.safetensors }", /diverged|NaN|non-finite|not a finite/, (dir) => {
    const bytes = Buffer.from(readFileSync(generator));
    bytes.fill(0xff, bytes.length - 4096);
    writeFileSync(join(dir, "nan.safetensors"), bytes);
  }),
];
const recordedSync: { bytes0?: number } = {};
recordedSync.bytes0 = Number((await loadTrainingState(checkpointFile(runFolder(pristine), 0))).metadata.rolloutLogBytes);
// The missing-generator case names a generator file that is not there.
cases.splice(cases.findIndex((c) => c.id === "missing-generator"), 1, tinyWith("missing-generator", "weights", "generator: { checkpoint: $DIR/no-such.safetensors }", /generator\.checkpoint: .*no-such\.safetensors/));

// kill -9 at random points, then resume: must reach the uninterrupted run's rows and weights.
const KILL_EPOCHS = 5;
// One pipeline file and folder for all of them: prompt order and noise derive from the resolved
// configuration, which includes run.outputDir, so only the same file reproduces the same run.
const killPipeline = pipeline("kill", KILL_EPOCHS);
const killFolder = folderOf(killPipeline);
if (cli(["run", killPipeline]).status !== 0) throw new Error("the straight kill reference run failed");
const straightRows = rows(killFolder.root);
const straightWeights = await finalWeights(killFolder);
const waitMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
const killRng = makeRng(12);
for (let k = 0; k < 8; k++) {
  // Random points spread over the run: after the k-th checkpoint appears (k mod epochs), a random delay
  // into the next epoch; waiting on checkpoints rather than a clock keeps the points spread on a loaded machine.
  const afterCheckpoints = k % KILL_EPOCHS;
  const delay = killRng.int(2000);
  cases.push({
    id: `kill9-${k}-after-${afterCheckpoints}-checkpoints+${delay}ms`,
    category: "kill",
    run: async () => {
      const file = killPipeline;
      rmSync(killFolder.root, { recursive: true, force: true });
      const child = spawn(node, [join(repo, "src/cli/main.ts"), "run", file], { cwd: work, stdio: "ignore" });
      while (listCheckpoints(killFolder).length < afterCheckpoints && child.exitCode === null) await waitMs(20);
      await waitMs(delay);
      child.kill("SIGKILL");
      await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.once("exit", r) : r(undefined)));
      const checkpointsAtKill = listCheckpoints(killFolder).length;
      const res = cli(["run", file, "--resume"]);
      lastDetail = `killed after ${delay} ms with ${checkpointsAtKill} checkpoints; resume exit ${res.status}: ${lastLine(res.stderr).slice(0, 160)}`;
      if (res.signal || (res.status !== 0 && res.status !== 1)) return "crash";
      if (res.status !== 0) return "unclear";
      return sameAs(folderOf(file), straightRows, straightWeights);
    },
  });
}

// two processes on one run folder
for (const [id, secondArgs] of [["two-runs-resume", ["--resume"]], ["two-runs-fresh", []], ["run-and-resume-same-time", ["--resume"]]] as const) {
  cases.push({
    id,
    category: "two-processes",
    run: async () => {
      // The first run is long enough to be still running whenever the second one starts, and stopped after.
      const file = pipeline(id, 1000);
      const first = spawn(node, [join(repo, "src/cli/main.ts"), "run", file], { cwd: work, stdio: "ignore" });
      const lock = join(folderOf(file).root, "run.lock");
      while (!existsSync(lock) && first.exitCode === null) await waitMs(50);
      const second = cli(["run", file, ...secondArgs]);
      const firstStillRunning = first.exitCode === null;
      first.kill("SIGINT");
      first.kill("SIGINT");
      await new Promise((r) => (first.exitCode === null ? first.once("exit", r) : r(undefined)));
      if (!firstStillRunning) return { outcome: "unclear" as const, detail: "the first run ended before the second started; the case did not test anything" };
      const outcome = refused(second, /run\.lock is held by `advgrpo run` \(pid \d+/);
      const keys = readRolloutLog(folderOf(file).rollouts).rows.map((r) => `${r.epoch}/${r.groupId}/${r.member}`);
      if (new Set(keys).size !== keys.length) return { outcome: "data-lost" as const, detail: `${lastDetail}; duplicated rows in the log` };
      return outcome;
    },
  });
}

// a full disk: a small tmpfs as run.outputDir
const tmpfsCase = (id: string, sizeKb: number): Case => ({
  id,
  category: "full-disk",
  run: async () => {
    const mount = join(work, `tmpfs-${id}`);
    mkdirSync(mount, { recursive: true });
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKb}k`, "tmpfs", mount]);
    if (mounted.status !== 0) return { outcome: "unclear" as const, detail: `could not mount a tmpfs (needs root): ${mounted.stderr}` };
    try {
      const dir = join(work, id);
      mkdirSync(dir, { recursive: true });
      const file = tinyChild(dir, 3, `run: { outputDir: ${mount} }`);
      const res = cli(["run", file]);
      const outcome = refused(res, /ENOSPC|no space/i);
      const partials = existsSync(join(mount, "tiny", "checkpoints")) ? readdirSync(join(mount, "tiny", "checkpoints")).filter((f) => f.includes(".partial-")) : [];
      // After the disk is freed (a bigger tmpfs is not possible in place), a resume must not rely on a torn file.
      return { outcome, detail: `${lastDetail}; leftover partial files: ${partials.length}` };
    } finally {
      spawnSync("umount", [mount]);
    }
  },
});
cases.push(tmpfsCase("disk-full-at-start", 8), tmpfsCase("disk-full-mid-run", 600), tmpfsCase("disk-full-at-checkpoint", 1500));

// ---------------------------------------------------------------- run and report

const { values } = parseArgs({ options: { only: { type: "string" }, json: { type: "string" } } });
const results: Result[] = [];
for (const c of cases.filter((c) => values.only === undefined || values.only.split(",").includes(c.category))) {
  lastDetail = "";
  let outcome: Outcome;
  let detail: string;
  try {
    const r = await c.run();
    [outcome, detail] = typeof r === "string" ? [r, lastDetail] : [r.outcome, r.detail];
  } catch (error) {
    [outcome, detail] = ["crash", `the sweep's own check threw: ${(error as Error).message.slice(0, 200)}`];
  }
  results.push({ id: c.id, category: c.category, outcome, detail });
  process.stderr.write(`${outcome.padEnd(9)} ${c.category.padEnd(13)} ${c.id}  ${detail.replaceAll("\n", " ").slice(0, 220)}\n`);
}

const categories = [...new Set(results.map((r) => r.category))];
const count = (rs: Result[], o: Outcome) => rs.filter((r) => r.outcome === o).length;
const table = [
  "| category | cases | clean | unclear | data lost | crashes |",
  "|---|---|---|---|---|---|",
  ...categories.map((cat) => {
    const rs = results.filter((r) => r.category === cat);
    return `| ${cat} | ${rs.length} | ${count(rs, "clean")} | ${count(rs, "unclear")} | ${count(rs, "data-lost")} | ${count(rs, "crash")} |`;
  }),
  `| **total** | ${results.length} | ${count(results, "clean")} | ${count(results, "unclear")} | ${count(results, "data-lost")} | ${count(results, "crash")} |`,
].join("\n");
process.stdout.write(`${table}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
rmSync(work, { recursive: true, force: true });
