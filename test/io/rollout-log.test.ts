import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { spawn } from "node:child_process";
import { Message, RecordBatch, RecordBatchReader, RecordBatchStreamWriter, Schema as ArrowSchema, tableFromArrays, tableToIPC } from "apache-arrow";
import { afterAll, describe, expect, it } from "vitest";
import type { AdvantagedRollout, TrajectoryStep } from "../../src/rollout/rollout.ts";
import { float16Bits, float16Value, fromFloat16, toFloat16 } from "../../src/util/float16.ts";
import { makeRng } from "../../src/util/prng.ts";
import type { Rng } from "../../src/util/prng.ts";
import { BATCH_CHECKSUM_KEY } from "../../src/io/rollout-log/batch-checksum.ts";
import { RolloutLogBatchDamaged } from "../../src/io/rollout-log/errors.ts";
import {
  MetadataKey,
  RolloutLogClosed,
  RolloutLogExists,
  RolloutLogMissingColumn,
  RolloutLogNotArrow,
  RolloutLogTruncated,
  openRolloutLog,
  readRolloutLog,
  rolloutLogSchema,
} from "../../src/io/rollout-log/index.ts";
import type { RecordedRollout, RolloutLogWriterOptions, TensorSizes } from "../../src/io/rollout-log/index.ts";

const polars = createRequire(import.meta.url)("nodejs-polars");

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-log-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const freshPath = () => path.join(dir, `log-${fileCounter++}.arrows`);

/** Stand-in codec: a quantised copy of the image, so the recorded bytes depend on the image and its size. */
const fakePng = (image: Float32Array, height: number, width: number) =>
  Uint8Array.from([height, width, ...Array.from(image, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255))]);

const COMPONENTS = ["dino", "ocr.words"];
const PROMPTS = ["a red circle", "two blue squares", "ünïcødé ✓", ""];

function options(sizes: TensorSizes, overrides: Partial<RolloutLogWriterOptions> = {}): RolloutLogWriterOptions {
  return {
    runId: "run-7",
    createdAt: "2026-01-02T03:04:05.000Z",
    pipelineConfig: JSON.stringify({ sampler: { steps: 10 }, rewards: [{ name: "dino", weight: 1 }] }),
    rewardComponents: COMPONENTS,
    tensorSizes: sizes,
    encodePng: fakePng,
    batchRows: 4,
    ...overrides,
  };
}

const tensor = (rng: Rng, size: number) => rng.fillNormal(new Float32Array(size));
/** Finite values mostly, with edge cases (the log refuses NaN and infinities in these columns). */
const scalar = (rng: Rng) => [-Number.MAX_VALUE, Number.MAX_VALUE, Number.MIN_VALUE, -0, 1e-310][rng.int(40)] ?? rng.normal() * 10 ** rng.int(6);
/** A discriminator logit: NaN, the one non-finite value a log keeps (no discriminator ran), among finite ones. */
const logit = (rng: Rng) => [NaN, NaN, NaN, -0, 1e-310][rng.int(40)] ?? rng.normal() * 10 ** rng.int(6);

/** A window of consecutive steps whose latents form one chain, as the sampler records them. */
function randomWindow(rng: Rng, sizes: TensorSizes): TrajectoryStep[] {
  const start = rng.int(10);
  const chain = Array.from({ length: 2 + rng.int(3) }, () => tensor(rng, sizes.latent));
  return Array.from({ length: rng.int(chain.length) }, (_, j) => ({
    stepIndex: start + j,
    sigma: rng.next(),
    sigmaNext: rng.next(),
    x: chain[j]!,
    xNext: chain[j + 1]!,
    logProb: scalar(rng),
  }));
}

function randomRollout(rng: Rng, sizes: TensorSizes, index: number): AdvantagedRollout {
  const h = 1 + rng.int(3);
  const w = 1 + rng.int(3);
  const tokens =
    sizes.patchTokens === null
      ? { cls: new Float32Array(0), patches: new Float32Array(0) }
      : { cls: tensor(rng, sizes.feature), patches: tensor(rng, sizes.patchTokens * sizes.feature) };
  return {
    runId: "run-7",
    epoch: rng.int(3),
    policyVersion: rng.int(1000),
    prompt: PROMPTS[rng.int(PROMPTS.length)]!,
    promptIndex: rng.int(50),
    groupId: index >> 2,
    member: index & 3,
    seed: [0, 2 ** 53 - 1, -(2 ** 40)][rng.int(8)] ?? rng.int(2 ** 30),
    steps: randomWindow(rng, sizes),
    image: Float32Array.from({ length: 3 * h * w }, () => rng.next()),
    imageHeight: h,
    imageWidth: w,
    timings: rng.int(5) === 0 ? {} : { sample: rng.next() * 100, "features.dino": rng.next() },
    pooled: tensor(rng, sizes.feature),
    ...tokens,
    rewards: Object.fromEntries(COMPONENTS.map((c) => [c, scalar(rng)])),
    reward: scalar(rng),
    discLogitCls: logit(rng),
    discLogitPatch: logit(rng),
    advantage: scalar(rng),
  };
}

/** What the reader must give back for a written row. */
function recorded(row: AdvantagedRollout, sizes: TensorSizes): RecordedRollout {
  const { image, cls, patches, ...rest } = row;
  const tokens = sizes.patchTokens === null ? {} : { cls, patches };
  return { ...rest, ...tokens, png: fakePng(image, row.imageHeight, row.imageWidth) };
}

const SIZES: TensorSizes = { latent: 6, feature: 4, patchTokens: 2 };

function writeLog(file: string, rows: readonly AdvantagedRollout[], overrides: Partial<RolloutLogWriterOptions> = {}) {
  const writer = openRolloutLog(file, options(SIZES, overrides));
  writer.append(rows);
  writer.close();
  return writer;
}

const rolloutsFor = (seed: number, count: number, sizes = SIZES) => {
  const rng = makeRng(seed);
  return Array.from({ length: count }, (_, i) => randomRollout(rng, sizes, i));
};

describe("rollout log round trip", () => {
  it("random rollouts written in random batches and appends read back equal (property, 24 seeds)", () => {
    for (let seed = 0; seed < 24; seed++) {
      const rng = makeRng(1000 + seed);
      const sizes: TensorSizes = { latent: 1 + rng.int(8), feature: 1 + rng.int(5), patchTokens: rng.int(2) ? null : 1 + rng.int(3) };
      const rows = Array.from({ length: rng.int(30) }, (_, i) => randomRollout(rng, sizes, i));
      const file = freshPath();
      const writer = openRolloutLog(file, options(sizes, { batchRows: 1 + rng.int(7) }));
      for (let start = 0; start < rows.length; ) {
        const end = Math.min(rows.length, start + rng.int(6));
        writer.append(rows.slice(start, end));
        start = end;
      }
      writer.close();
      expect(writer.rowsWritten).toBe(rows.length);

      const read = readRolloutLog(file);
      expect(read.truncated).toBeUndefined();
      expect(read.rows).toEqual(rows.map((r) => recorded(r, sizes)));
    }
  });

  it("keeps NaN logits, empty trajectories and empty timings", () => {
    const [base] = rolloutsFor(1, 1);
    const row = { ...base!, steps: [], timings: {}, discLogitCls: NaN, discLogitPatch: NaN };
    const file = freshPath();
    writeLog(file, [row]);
    const [back] = readRolloutLog(file).rows;
    expect(back!.steps).toEqual([]);
    expect(back!.timings).toEqual({});
    expect(back!.discLogitCls).toBeNaN();
    expect(back!.discLogitPatch).toBeNaN();
  });

  it("selects one epoch or one group", () => {
    const rows = rolloutsFor(2, 20);
    const file = freshPath();
    writeLog(file, rows);
    const epoch1 = readRolloutLog(file, { epoch: 1 });
    expect(epoch1.rows).toEqual(rows.filter((r) => r.epoch === 1).map((r) => recorded(r, SIZES)));
    expect(epoch1.totalRows).toBe(20);
    const group = readRolloutLog(file, { epoch: rows[9]!.epoch, groupId: 2 });
    expect(group.rows.map((r) => [r.groupId, r.member])).toEqual(
      rows.filter((r) => r.groupId === 2 && r.epoch === rows[9]!.epoch).map((r) => [2, r.member]),
    );
  });

  it("round-trips the schema metadata", () => {
    const file = freshPath();
    writeLog(file, rolloutsFor(3, 2));
    const { metadata } = readRolloutLog(file);
    const opts = options(SIZES);
    expect(metadata).toEqual({
      runId: opts.runId,
      createdAt: opts.createdAt,
      pipelineConfig: opts.pipelineConfig,
      rewardComponents: COMPONENTS,
      tensorSizes: SIZES,
      latentDtype: "float32",
    });
    expect(JSON.parse(metadata.pipelineConfig)).toEqual(JSON.parse(opts.pipelineConfig));
  });
});

describe("crash safety", () => {
  /** A log of 10 rows in batches of 4, 4, 2 and the file size after each batch. */
  function logWithBoundaries() {
    const rows = rolloutsFor(4, 10);
    const file = freshPath();
    const writer = openRolloutLog(file, options(SIZES));
    const boundaries = [fs.statSync(file).size];
    for (const chunk of [rows.slice(0, 4), rows.slice(4, 8), rows.slice(8)]) {
      writer.append(chunk);
      writer.flush();
      boundaries.push(fs.statSync(file).size);
    }
    writer.close();
    return { rows, bytes: fs.readFileSync(file), boundaries, rowsAt: [0, 4, 8, 10] };
  }

  it("a file cut at any offset yields the complete batches before the cut and reports the cut", () => {
    const { rows, bytes, boundaries, rowsAt } = logWithBoundaries();
    const rng = makeRng(5);
    const cuts = [
      ...boundaries.flatMap((b) => [b - 1, b, b + 1]),
      ...Array.from({ length: 25 }, () => boundaries[0]! + rng.int(bytes.length - boundaries[0]!)),
    ].filter((c) => c >= boundaries[0]! && c <= bytes.length);
    for (const cut of cuts) {
      const file = freshPath();
      fs.writeFileSync(file, bytes.subarray(0, cut));
      const complete = boundaries.filter((b) => b <= cut).length - 1;
      const read = readRolloutLog(file);
      expect(read.rows).toEqual(rows.slice(0, rowsAt[complete]).map((r) => recorded(r, SIZES)));
      if (cut === boundaries[complete]) {
        expect(read.truncated).toBeUndefined();
      } else {
        expect(read.truncated).toBeInstanceOf(RolloutLogTruncated);
        expect(read.truncated!.offset).toBe(boundaries[complete]);
        expect(read.truncated!.completeRows).toBe(rowsAt[complete]);
        expect(() => readRolloutLog(file, { strict: true })).toThrow(
          expect.objectContaining({ _tag: "RolloutLogTruncated", file, offset: boundaries[complete] }),
        );
      }
    }
  });

  it("a tail of zeros (a file system that grew the file before the data landed) is a cut; other bytes there are damage", () => {
    const { rows, bytes, boundaries } = logWithBoundaries();
    const file = freshPath();
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.alloc(100)]));
    const read = readRolloutLog(file);
    expect(read.rows).toEqual(rows.map((r) => recorded(r, SIZES)));
    expect(read.truncated).toMatchObject({ offset: bytes.length, reason: `zero bytes where a message should start at byte ${bytes.length}` });
    const garbage = Buffer.concat([bytes, Buffer.alloc(100, 7)]);
    fs.writeFileSync(file, garbage);
    expect(() => readRolloutLog(file)).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 3, offset: boundaries[3] }));
    expect(() => openRolloutLog(file, options(SIZES, { resume: true }))).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 3 }));
    expect(fs.readFileSync(file).equals(garbage)).toBe(true);
  });

  it("a length in an earlier batch's framing damaged to reach past the end is damage, not a cut that would drop the batches after it", () => {
    const { bytes, boundaries } = logWithBoundaries();
    const file = freshPath();
    const copy = Buffer.from(bytes);
    copy.writeInt32LE(copy.length, boundaries[1]! + 4); // the second batch's first message claims more metadata than the file holds
    fs.writeFileSync(file, copy);
    expect(() => readRolloutLog(file)).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 1, offset: boundaries[1] }));
    expect(() => readRolloutLog(file)).toThrow(/incomplete message metadata, yet a whole message follows at byte \d+/);
    expect(() => openRolloutLog(file, options(SIZES, { resume: true }))).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 1 }));
    expect(fs.readFileSync(file).equals(copy)).toBe(true);
  });

  it("a writer process killed with SIGKILL mid-run leaves a log of complete batches that resumes", async () => {
    const file = freshPath();
    const script = path.join(dir, "writer-child.ts");
    const sizes = JSON.stringify(SIZES);
    fs.writeFileSync(
      script,
      `import { openRolloutLog } from ${JSON.stringify(path.resolve("src/io/rollout-log/index.ts"))};
const sizes = ${sizes};
const writer = openRolloutLog(${JSON.stringify(file)}, { runId: "run-7", createdAt: "t", pipelineConfig: "{}",
  rewardComponents: ["dino"], tensorSizes: sizes, encodePng: () => new Uint8Array(64), batchRows: 2 });
const fill = (n, v) => new Float32Array(n).fill(v);
for (let i = 0; ; i++) {
  writer.append([{ runId: "run-7", epoch: 0, policyVersion: 0, prompt: "p", promptIndex: 0, groupId: i, member: 0, seed: i,
    steps: [{ stepIndex: 0, sigma: 1, sigmaNext: 0.5, logProb: -1, x: fill(sizes.latent, i), xNext: fill(sizes.latent, -i) }],
    image: fill(3, 0), imageHeight: 1, imageWidth: 1, timings: {}, pooled: fill(sizes.feature, i), cls: fill(sizes.feature, 0),
    patches: fill(sizes.feature * sizes.patchTokens, 0), rewards: { dino: i }, reward: i, discLogitCls: 0, discLogitPatch: 0, advantage: 0 }]);
  if (writer.rowsWritten >= 6 && i % 2 === 1) process.stdout.write("6 rows written\\n");
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    const read = readRolloutLog(file);
    expect(read.rows.length).toBeGreaterThanOrEqual(6);
    expect(read.rows.length % 2).toBe(0);
    expect(read.rows.map((r) => r.seed)).toEqual(read.rows.map((_, i) => i));
    expect(read.rows.every((r, i) => r.steps[0]!.xNext.every((v) => v === -i))).toBe(true);
    const writer = openRolloutLog(file, {
      ...options(SIZES),
      pipelineConfig: "{}",
      createdAt: "t",
      rewardComponents: ["dino"],
      resume: true,
    });
    expect(writer.resumed!.rows).toBe(read.rows.length);
    writer.close();
  });

  it("a cut inside the schema message is not a log", () => {
    const { bytes, boundaries } = logWithBoundaries();
    const file = freshPath();
    fs.writeFileSync(file, bytes.subarray(0, boundaries[0]! - 3));
    expect(() => readRolloutLog(file)).toThrow(RolloutLogNotArrow);
  });

  it("resume after a crash cuts the partial batch and continues the log", () => {
    const { rows, bytes, boundaries } = logWithBoundaries();
    const file = freshPath();
    const cut = boundaries[2]! + 100;
    fs.writeFileSync(file, bytes.subarray(0, cut));
    const more = rolloutsFor(6, 5);
    const writer = openRolloutLog(file, options(SIZES, { resume: true }));
    expect(writer.resumed).toEqual({ rows: 8, batches: 2, discardedBytes: 100 });
    writer.append(more);
    writer.close();
    const read = readRolloutLog(file);
    expect(read.truncated).toBeUndefined();
    expect(read.rows).toEqual([...rows.slice(0, 8), ...more].map((r) => recorded(r, SIZES)));
  });
});

describe("resume", () => {
  it("continues a closed log and keeps its creation time", () => {
    const first = rolloutsFor(7, 5);
    const second = rolloutsFor(8, 6);
    const file = freshPath();
    writeLog(file, first);
    const writer = openRolloutLog(file, options(SIZES, { resume: true, createdAt: "later" }));
    expect(writer.resumed).toEqual({ rows: 5, batches: 2, discardedBytes: 0 });
    expect(writer.metadata.createdAt).toBe("2026-01-02T03:04:05.000Z");
    writer.append(second);
    writer.close();
    expect(writer.rowsWritten).toBe(11);
    expect(readRolloutLog(file).rows).toEqual([...first, ...second].map((r) => recorded(r, SIZES)));
  });

  it("reads and continues a log that another writer closed with an end-of-stream marker", () => {
    const first = rolloutsFor(14, 3);
    const second = rolloutsFor(15, 2);
    const file = freshPath();
    writeLog(file, first);
    fs.appendFileSync(file, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0));
    expect(readRolloutLog(file).truncated).toBeUndefined();
    const writer = openRolloutLog(file, options(SIZES, { resume: true }));
    expect(writer.resumed).toEqual({ rows: 3, batches: 1, discardedBytes: 8 });
    writer.append(second);
    writer.close();
    expect(readRolloutLog(file).rows).toEqual([...first, ...second].map((r) => recorded(r, SIZES)));
  });

  it("refuses to overwrite without resume, and to continue a different run or layout", () => {
    const file = freshPath();
    writeLog(file, rolloutsFor(9, 2));
    const before = fs.readFileSync(file);
    expect(() => openRolloutLog(file, options(SIZES))).toThrow(RolloutLogExists);
    const mismatch = (overrides: Partial<RolloutLogWriterOptions>, key: string) =>
      expect(() => openRolloutLog(file, options(SIZES, { resume: true, ...overrides }))).toThrow(
        expect.objectContaining({ _tag: "RolloutLogMetadataMismatch", key }),
      );
    mismatch({ runId: "other" }, MetadataKey.runId);
    mismatch({ pipelineConfig: "{}" }, MetadataKey.pipeline);
    mismatch({ rewardComponents: ["dino"] }, MetadataKey.rewardComponents);
    mismatch({ tensorSizes: { ...SIZES, patchTokens: null } }, MetadataKey.tensorSizes);
    mismatch({ latentDtype: "float16" }, MetadataKey.latentDtype);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});

describe("polars reads the log (an independent Arrow implementation)", () => {
  it("sees every row, the reward columns, prompts and trajectories", () => {
    const rows = rolloutsFor(10, 11).map((r, i) => ({ ...r, rewards: { dino: i / 4, "ocr.words": -i } }));
    const file = freshPath();
    writeLog(file, rows);
    // nodejs-polars 0.25 reads a string path as inline data unless it ends in .ipc: hand it the bytes.
    const df = polars.readIPCStream(fs.readFileSync(file));
    expect(df.height).toBe(11);
    expect(df.getColumn("reward.dino").toArray()).toEqual(rows.map((r) => r.rewards.dino));
    expect(df.getColumn("reward.ocr.words").toArray()).toEqual(rows.map((r) => r.rewards["ocr.words"]));
    expect(df.getColumn("prompt").toArray()).toEqual(rows.map((r) => r.prompt));
    expect(df.getColumn("seed").toArray()).toEqual(rows.map((r) => r.seed));
    const steps = df.getColumn("steps").toArray() as { sigma: number }[][];
    expect(steps.map((s) => s.length)).toEqual(rows.map((r) => r.steps.length));
    const withSteps = rows.findIndex((r) => r.steps.length > 0);
    expect(steps[withSteps]![0]!.sigma).toBe(rows[withSteps]!.steps[0]!.sigma);
    const latents = df.getColumn("latents").toArray() as number[][][];
    expect(latents.map((c) => c.length)).toEqual(rows.map((r) => (r.steps.length === 0 ? 0 : r.steps.length + 1)));
    expect(Float32Array.from(latents[withSteps]![0]!)).toEqual(rows[withSteps]!.steps[0]!.x);
    expect(Float32Array.from(latents[withSteps]!.at(-1)!)).toEqual(rows[withSteps]!.steps.at(-1)!.xNext);
    expect(df.getColumn("pooled").toArray().length).toBe(11);
  });
});

describe("latent storage", () => {
  /** One row whose window has `steps` steps over latents of `latent` values. */
  const windowRow = (steps: number, latent: number, dtype: "float32" | "float16" = "float32") => {
    const sizes = { ...SIZES, latent };
    const file = freshPath();
    const [row] = rolloutsFor(20, 1, sizes);
    const rng = makeRng(21);
    const chain = Array.from({ length: steps + 1 }, () => tensor(rng, latent));
    const window = Array.from({ length: steps }, (_, j) => ({ stepIndex: 2 + j, sigma: 0.5, sigmaNext: 0.4, x: chain[j]!, xNext: chain[j + 1]!, logProb: -1 }));
    const writer = openRolloutLog(file, options(sizes, { latentDtype: dtype }));
    writer.append([{ ...row!, steps: window }]);
    writer.close();
    return { file, chain, bytes: fs.statSync(file).size };
  };

  /** Bytes a further step adds: one latent plus its scalars (28 bytes), give or take 8-byte buffer alignment. */
  const stepCost = (latentBytes: number) => ({ asymmetricMatch: (d: number) => d >= latentBytes && d < latentBytes + 64 });

  it("stores a window's latents once: each further step adds one latent, not two", () => {
    const [one, two, three] = [1, 2, 3].map((steps) => windowRow(steps, 1000).bytes);
    expect(two! - one!).toEqual(stepCost(4000));
    expect(three! - two!).toEqual(stepCost(4000));
  });

  it("float16 storage halves the latents and reads back the rounded chain", () => {
    const half = windowRow(3, 1000, "float16");
    expect(half.bytes - windowRow(2, 1000, "float16").bytes).toEqual(stepCost(2000));
    const [back] = readRolloutLog(half.file).rows;
    expect(back!.steps.map((s) => s.x)).toEqual(half.chain.slice(0, 3).map((x) => fromFloat16(toFloat16(x))));
    expect(back!.steps[2]!.xNext).toEqual(fromFloat16(toFloat16(half.chain[3]!)));
  });

  it("float16 conversion rounds to nearest even (known answers)", () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [0.1, 0x2e66], [2 ** -14, 0x0400], [2 ** -24, 0x0001],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [65520, 0x7c00], [-0, 0x8000],
    ];
    for (const [value, bits] of cases) expect([value, float16Bits(value)]).toEqual([value, bits]);
    expect(float16Value(0x7e00)).toBeNaN();
    // Every finite half converts back to itself.
    for (let bits = 0; bits < 0x10000; bits++) if ((bits & 0x7c00) !== 0x7c00) expect(float16Bits(float16Value(bits))).toBe(bits);
  });

  it("refuses a window that is not one chain, and float16 values out of range, naming them", () => {
    const [row] = rolloutsFor(22, 1);
    const x = new Float32Array(6).fill(1);
    const step = (stepIndex: number, from: Float32Array, to: Float32Array) => ({ stepIndex, sigma: 0.5, sigmaNext: 0.4, logProb: -1, x: from, xNext: to });
    const writer = openRolloutLog(freshPath(), options(SIZES));
    expect(() => writer.append([{ ...row!, steps: [step(2, x, x), step(4, x, x)] }])).toThrow(
      expect.objectContaining({ field: "rows[0].steps[1].stepIndex", expected: "3 (the steps of one window are consecutive)" }),
    );
    const other = new Float32Array(6).fill(1);
    other[3] = 2;
    expect(() => writer.append([{ ...row!, steps: [step(2, x, x), step(3, other, x)] }])).toThrow(
      expect.objectContaining({ field: "rows[0].steps[1].x[3]" }),
    );
    writer.close();
    const half = openRolloutLog(freshPath(), options(SIZES, { latentDtype: "float16" }));
    const huge = new Float32Array(6);
    huge[5] = 1e5;
    expect(() => half.append([{ ...row!, steps: [step(2, x, huge)] }])).toThrow(
      expect.objectContaining({ field: "rows[0].steps[0].xNext[5]", found: "100000" }),
    );
    half.close();
  });
});

describe("final latents (clean column)", () => {
  const withClean = (rows: readonly AdvantagedRollout[], seed: number) => {
    const rng = makeRng(seed);
    return rows.map((r) => ({ ...r, steps: [], clean: tensor(rng, SIZES.latent) }));
  };

  it("keeps each row's final latent as float32 or rounded float16, and resumes only a log of the same kind", () => {
    const rows = withClean(rolloutsFor(30, 6), 31);
    const file = freshPath();
    writeLog(file, rows, { cleanLatents: true });
    const log = readRolloutLog(file);
    expect(log.metadata.cleanLatents).toBe(true);
    expect(log.rows.map((r) => r.clean)).toEqual(rows.map((r) => r.clean));
    expect(() => openRolloutLog(file, options(SIZES, { resume: true }))).toThrow(expect.objectContaining({ key: MetadataKey.cleanLatents, expected: "false", found: "true" }));
    openRolloutLog(file, options(SIZES, { resume: true, cleanLatents: true })).close();

    const half = freshPath();
    writeLog(half, rows, { cleanLatents: true, latentDtype: "float16" });
    expect(readRolloutLog(half).rows.map((r) => r.clean)).toEqual(rows.map((r) => fromFloat16(toFloat16(r.clean))));
  });

  it("leaves other logs' layout alone: no key, no column, no clean field", () => {
    const file = freshPath();
    writeLog(file, rolloutsFor(32, 2));
    const log = readRolloutLog(file);
    expect(log.metadata.cleanLatents).toBeUndefined();
    expect(log.rows.every((r) => !("clean" in r))).toBe(true);
    const schema = rolloutLogSchema(log.metadata);
    expect(schema.fields.some((f) => f.name === "clean")).toBe(false);
    expect(schema.metadata.has(MetadataKey.cleanLatents)).toBe(false);
  });

  it("refuses a row without its final latent, a latent of the wrong size, and clean latents in a log without latents", () => {
    const [row] = rolloutsFor(33, 1);
    const writer = openRolloutLog(freshPath(), options(SIZES, { cleanLatents: true }));
    expect(() => writer.append([row!])).toThrow(expect.objectContaining({ field: "rows[0].clean" }));
    expect(() => writer.append([{ ...row!, clean: new Float32Array(5) }])).toThrow(expect.objectContaining({ field: "rows[0].clean", expected: "a Float32Array of 6 values" }));
    writer.close();
    expect(() => openRolloutLog(freshPath(), options(SIZES, { cleanLatents: true, latentDtype: "none" }))).toThrow(expect.objectContaining({ option: "cleanLatents" }));
  });
});

describe("bad input", () => {
  it("a file that is not Arrow is a tagged error naming the file", () => {
    const file = freshPath();
    fs.writeFileSync(file, "epoch,reward\n1,0.5\n");
    expect(() => readRolloutLog(file)).toThrow(expect.objectContaining({ _tag: "RolloutLogNotArrow", file }));
    fs.writeFileSync(file, "");
    expect(() => readRolloutLog(file)).toThrow(/is not an Arrow rollout log: the file is empty/);
    fs.writeFileSync(file, tableToIPC(tableFromArrays({ a: new Float64Array([1]) }), "file"));
    expect(() => readRolloutLog(file)).toThrow(/random-access format/);
  });

  it("an Arrow stream of another format fails on its metadata", () => {
    const file = freshPath();
    fs.writeFileSync(file, tableToIPC(tableFromArrays({ a: new Float64Array([1]) }), "stream"));
    expect(() => readRolloutLog(file)).toThrow(
      expect.objectContaining({ _tag: "RolloutLogMetadataMismatch", key: MetadataKey.format, found: "absent" }),
    );
  });

  it("a missing required column is named", () => {
    const schema = rolloutLogSchema({ ...options(SIZES), tensorSizes: SIZES, latentDtype: "float32" });
    const without = new ArrowSchema(schema.fields.filter((f) => f.name !== "advantage"), schema.metadata);
    const writer = new RecordBatchStreamWriter();
    writer.reset(undefined, without);
    writer.finish();
    const file = freshPath();
    fs.writeFileSync(file, writer.toUint8Array(true));
    expect(() => readRolloutLog(file)).toThrow(RolloutLogMissingColumn);
    expect(() => readRolloutLog(file)).toThrow(`'${file}' has no column 'advantage'`);
  });

  it("an invalid row rejects its whole append call, naming the value", () => {
    const [good, bad] = rolloutsFor(11, 2);
    const file = freshPath();
    const writer = openRolloutLog(file, options(SIZES));
    const wrongLatent = { ...bad!, steps: [{ ...bad!.steps[0]!, x: new Float32Array(5) }] };
    expect(() => writer.append([good!, wrongLatent])).toThrow(
      expect.objectContaining({ _tag: "RolloutLogRowInvalid", field: "rows[1].steps[0].x", expected: "a Float32Array of 6 values" }),
    );
    expect(() => writer.append([{ ...good!, rewards: { dino: 1 } }])).toThrow(
      `rows[0].rewards is ["dino"], expected exactly the components ["dino","ocr.words"]`,
    );
    expect(() => writer.append([{ ...good!, epoch: 1.5 }])).toThrow(/rows\[0\]\.epoch is 1\.5/);
    expect(writer.rowsBuffered).toBe(0);
    writer.close();
    expect(() => writer.append([good!])).toThrow(RolloutLogClosed);
    expect(readRolloutLog(file).rows).toEqual([]);
  });

  it("refuses NaN and infinities where the log keeps finite values, naming column, row and value, and loses nothing recorded", () => {
    const rows = rolloutsFor(12, 6).map((r) => ({ ...r, steps: r.steps.length > 0 ? r.steps : [{ stepIndex: 0, sigma: 0.5, sigmaNext: 0.4, logProb: -1, x: new Float32Array(6), xNext: new Float32Array(6) }] }));
    const file = freshPath();
    const writer = openRolloutLog(file, options(SIZES, { batchRows: 4 }));
    writer.append(rows.slice(0, 5));
    expect([writer.rowsWritten, writer.rowsBuffered]).toEqual([4, 1]);
    const row = rows[5]!;
    const latent = Float32Array.from(row.steps[0]!.xNext);
    latent[2] = -Infinity;
    const cases: [Partial<AdvantagedRollout>, string, string, number][] = [
      [{ advantage: NaN }, "advantage", "rows[1].advantage", NaN],
      [{ reward: Infinity }, "reward", "rows[1].reward", Infinity],
      [{ rewards: { ...row.rewards, "ocr.words": NaN } }, "reward.ocr.words", "rows[1].rewards.ocr.words", NaN],
      [{ steps: [{ ...row.steps[0]!, logProb: -Infinity }] }, "steps.logProb", "rows[1].steps[0].logProb", -Infinity],
      [{ steps: [{ ...row.steps[0]!, xNext: latent }] }, "latents", "rows[1].steps[0].xNext[2]", -Infinity],
      [{ discLogitCls: Infinity }, "discLogitCls", "rows[1].discLogitCls", Infinity],
      [{ pooled: Float32Array.of(0, NaN, 0, 0) }, "pooled", "rows[1].pooled[1]", NaN],
      [{ timings: { sample: NaN } }, "timings", "rows[1].timings.sample", NaN],
    ];
    for (const [change, column, field, value] of cases) {
      const bad = { ...row, ...change };
      expect(() => writer.append([row, bad])).toThrow(
        expect.objectContaining({ _tag: "RolloutLogNonFinite", column, field, epoch: row.epoch, groupId: row.groupId, member: row.member, value }),
      );
    }
    expect(() => writer.append([{ ...row, advantage: NaN }])).toThrow(
      `column 'advantage' is NaN in the row of epoch ${row.epoch}, group ${row.groupId}, member ${row.member} (rows[0].advantage)`,
    );
    expect([writer.rowsWritten, writer.rowsBuffered]).toEqual([4, 1]);
    writer.append([{ ...row, discLogitCls: NaN, discLogitPatch: NaN }]);
    writer.close();
    expect(readRolloutLog(file).rows).toEqual([...rows.slice(0, 5), { ...row, discLogitCls: NaN, discLogitPatch: NaN }].map((r) => recorded(r, SIZES)));
  });
});

describe("metadata keys", () => {
  it("are plain schema metadata that arrow-js's own reader sees", () => {
    const file = freshPath();
    writeLog(file, rolloutsFor(13, 1));
    const reader = RecordBatchReader.from(fs.readFileSync(file));
    reader.open();
    const metadata = reader.schema.metadata;
    // clean_latents is written only by logs that keep final latents
    expect([...metadata.keys()].sort()).toEqual(Object.values(MetadataKey).filter((k) => k !== MetadataKey.cleanLatents).sort());
    expect(metadata.get(MetadataKey.rewardComponents)).toBe(JSON.stringify(COMPONENTS));
    expect(metadata.get(MetadataKey.pipeline)).toBe(options(SIZES).pipelineConfig);
    expect(metadata.get(MetadataKey.formatVersion)).toBe("3");
  });
});

describe("declared sizes are checked against the bytes before anything is allocated", () => {
  /** The log with its first record batch's header rewritten to claim `rows` rows (every top-level column too); `schemaEnd` is where its stream ends. */
  function claimRows(rows: number): { file: string; schemaEnd: number } {
    const file = freshPath();
    const writer = openRolloutLog(file, options(SIZES, { batchRows: 8 }));
    const schemaEnd = fs.statSync(file).size;
    writer.append(rolloutsFor(9, 8));
    writer.close();
    const bytes = fs.readFileSync(file);
    let at = schemaEnd;
    for (;;) {
      const metadataBytes = bytes.readInt32LE(at + 4);
      const message = Message.decode(bytes.subarray(at + 8, at + 8 + metadataBytes));
      const end = at + 8 + metadataBytes + Number(message.bodyLength);
      if (message.isRecordBatch()) {
        const header = message.header() as unknown as { _length: number; nodes: { length: number }[] };
        const topLevel = new Set(header.nodes.filter((n) => n.length === header._length));
        header._length = rows;
        for (const n of topLevel) n.length = rows;
        // The batch's checksum stays: with the count unchanged the batch must still read, so only the count can fail it.
        const encoded = Message.encode(new Message(message.bodyLength, message.version, message.headerType, header, message.metadata));
        const padded = Buffer.alloc(Math.ceil(encoded.length / 8) * 8);
        padded.set(encoded);
        const prefix = Buffer.alloc(8);
        prefix.writeUInt32LE(0xffffffff, 0);
        prefix.writeInt32LE(padded.length, 4);
        fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, at), prefix, padded, bytes.subarray(at + 8 + metadataBytes, end), bytes.subarray(end)]));
        return { file, schemaEnd };
      }
      at = end;
    }
  }

  it("a batch claiming 1e8 rows over a small body is refused as damaged without decoding it, naming the column", () => {
    const { file, schemaEnd } = claimRows(1e8);
    for (const strict of [false, true]) {
      expect(() => readRolloutLog(file, { strict })).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 0, offset: schemaEnd }));
    }
    expect(() => readRolloutLog(file)).toThrow(/column '\w+' declares 100000000 values needing \d+ bytes, but its buffer holds \d+/);
  });

  it("the unchanged count passes, so the check sees what the writer writes", () => {
    const { file } = claimRows(8);
    const contents = readRolloutLog(file);
    expect(contents.truncated).toBeUndefined();
    expect(contents.totalRows).toBe(8);
  });
});

describe("per-batch checksums", () => {
  /** A log of 10 rows in batches of 4, 4 and 2, the byte offset where each batch starts, and the end. */
  function logOfThreeBatches() {
    const rows = rolloutsFor(21, 10);
    const file = freshPath();
    const writer = openRolloutLog(file, options(SIZES));
    const starts = [fs.statSync(file).size];
    for (const chunk of [rows.slice(0, 4), rows.slice(4, 8), rows.slice(8)]) {
      writer.append(chunk);
      writer.flush();
      starts.push(fs.statSync(file).size);
    }
    writer.close();
    return { rows: rows.map((r) => recorded(r, SIZES)), bytes: fs.readFileSync(file), starts, rowsBefore: [0, 4, 8, 10] };
  }

  it("every record batch carries one, visible to arrow-js's own reader as the batch's metadata", () => {
    const { bytes } = logOfThreeBatches();
    const batches = RecordBatchReader.from(bytes).readAll();
    expect(batches.map((b) => b.numRows)).toEqual([4, 4, 2]);
    for (const b of batches) expect(b.metadata.get(BATCH_CHECKSUM_KEY)).toMatch(/^[0-9a-f]{8}$/);
  });

  it("a byte flipped anywhere in a batch never reads back as other rows: damaged (naming file, batch and bytes), a cut only in the last batch", () => {
    const { rows, bytes, starts, rowsBefore } = logOfThreeBatches();
    const file = freshPath();
    const outcomes = { damaged: 0, cut: 0, unread: 0 };
    for (const k of [0, 1, 2]) {
      // 96 positions spread over the batch: dictionary messages, the record batch header, its body.
      const positions = Array.from({ length: 96 }, (_, i) => starts[k]! + Math.floor((i * (starts[k + 1]! - starts[k]!)) / 96));
      for (const at of positions) {
        const copy = Buffer.from(bytes);
        copy[at]! ^= 0x04;
        fs.writeFileSync(file, copy);
        let read: ReturnType<typeof readRolloutLog>;
        try {
          read = readRolloutLog(file);
        } catch (error) {
          expect(error).toBeInstanceOf(RolloutLogBatchDamaged);
          // The end is where the (possibly damaged) framing says the batch ends.
          expect(error).toMatchObject({ file, batch: k, offset: starts[k] });
          outcomes.damaged++;
          continue;
        }
        // Only a flip that makes the last batch's framing reach past the end of the file can read as a crash's cut at
        // that batch; one in bytes nothing reads (padding) changes nothing.
        if (read.truncated !== undefined) {
          expect(k).toBe(2);
          expect(read.truncated.offset).toBe(starts[k]);
        }
        outcomes[read.truncated === undefined ? "unread" : "cut"]++;
        expect(read.rows).toEqual(rows.slice(0, rowsBefore[read.truncated === undefined ? 3 : k]));
      }
    }
    expect(outcomes.damaged).toBeGreaterThan(0);
    expect(outcomes.cut).toBeGreaterThan(0);
    for (const k of [0, 1, 2]) {
      const body = Buffer.from(bytes);
      body[starts[k + 1]! - 20]! ^= 0x01; // inside the batch's last column's values
      fs.writeFileSync(file, body);
      expect(() => readRolloutLog(file)).toThrow(`'${file}' record batch ${k} (bytes ${starts[k]}..${starts[k + 1]}) is damaged: CRC-32 `);
    }
  });

  it("a resumed writer refuses a damaged batch instead of cutting or continuing past it", () => {
    const { bytes, starts } = logOfThreeBatches();
    const file = freshPath();
    const copy = Buffer.from(bytes);
    copy[starts[1]! - 9]! ^= 0x40;
    fs.writeFileSync(file, copy);
    expect(() => openRolloutLog(file, options(SIZES, { resume: true }))).toThrow(expect.objectContaining({ _tag: "RolloutLogBatchDamaged", batch: 0 }));
    expect(fs.readFileSync(file).equals(copy)).toBe(true);
  });

  it("a batch without a checksum is refused, and a format-2 log (no checksums) is refused saying why", () => {
    const schema = rolloutLogSchema({ ...options(SIZES), tensorSizes: SIZES, latentDtype: "float32" });
    const file = freshPath();
    writeLog(file, rolloutsFor(22, 2));
    const [batch] = RecordBatchReader.from(fs.readFileSync(file)).readAll();
    const bare = new RecordBatchStreamWriter();
    bare.write(new RecordBatch(schema, batch!.data));
    bare.finish();
    fs.writeFileSync(file, bare.toUint8Array(true));
    expect(() => readRolloutLog(file)).toThrow(`record batch 0 (bytes`);
    expect(() => readRolloutLog(file)).toThrow(`carries no '${BATCH_CHECKSUM_KEY}'`);

    const older = new ArrowSchema(schema.fields, new Map([...schema.metadata, [MetadataKey.formatVersion, "2"]]));
    const writer = new RecordBatchStreamWriter();
    writer.reset(undefined, older);
    writer.finish();
    fs.writeFileSync(file, writer.toUint8Array(true));
    expect(() => readRolloutLog(file)).toThrow(/format_version' is 2, expected 3 .*a format-2 log is refused because its batches carry no checksums/);
  });
});
