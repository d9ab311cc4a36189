/**
 * The run's metrics log: `metrics.jsonl` in the run folder, one record per line, appended and
 * fsynced record by record so a killed run keeps everything it logged up to the kill.
 *
 * On disk a record is flat: `{"kind":"generator","epoch":3,"step":7,"reward_mean":0.41,...}`.
 * In memory the metrics sit under `metrics` so they are typed as numbers apart from kind/epoch/step.
 * JSON has no NaN or infinities, yet a diverging run produces exactly those, so they are written as
 * the strings "NaN", "Infinity", "-Infinity" and read back as numbers.
 */
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { Schema } from "effect";

export const METRICS_FILE = "metrics.jsonl";

export const METRIC_KINDS = ["generator", "discriminator", "eval", "epoch"] as const;
export type MetricKind = (typeof METRIC_KINDS)[number];

export interface MetricRecord {
  readonly kind: MetricKind;
  readonly epoch: number;
  /** Optimiser step (generator / discriminator records); absent for per-epoch and eval records. */
  readonly step?: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** A metrics file or record that cannot be written or read. */
export class MetricsLogError extends Schema.TaggedError<MetricsLogError>()("MetricsLogError", {
  file: Schema.String,
  /** 1-based line of the file; 0 when the problem is a record being appended. */
  line: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return this.line > 0 ? `${this.file} line ${this.line}: ${this.reason}` : `${this.file}: ${this.reason}`;
  }
}

const RESERVED = new Set(["kind", "epoch", "step"]);
const NON_FINITE: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Infinity, "-Infinity": -Infinity };

export const metricsPath = (runDir: string): string => nodePath.join(runDir, METRICS_FILE);

/** How a number is spelled in JSONL and CSV: exact round trip, non-finite values by name. */
const formatMetric = (value: number): number | string => (Number.isFinite(value) ? value : String(value));

function checkRecord(file: string, record: MetricRecord): void {
  const fail = (reason: string) => new MetricsLogError({ file, line: 0, reason });
  if (!(METRIC_KINDS as ReadonlyArray<string>).includes(record.kind)) {
    throw fail(`kind must be one of ${METRIC_KINDS.join(", ")}, got ${JSON.stringify(record.kind)}`);
  }
  if (!Number.isSafeInteger(record.epoch) || record.epoch < 0) throw fail(`epoch must be a non-negative integer, got ${record.epoch}`);
  if (record.step !== undefined && (!Number.isSafeInteger(record.step) || record.step < 0)) {
    throw fail(`step must be a non-negative integer, got ${record.step}`);
  }
  for (const [name, value] of Object.entries(record.metrics)) {
    if (RESERVED.has(name) || name === "") throw fail(`"${name}" cannot name a metric (kind, epoch and step are the record's own fields)`);
    if (typeof value !== "number") throw fail(`metric "${name}" must be a number, got ${typeof value}`);
  }
}

function encodeRecord(record: MetricRecord): string {
  const flat: Record<string, number | string> = { kind: record.kind, epoch: record.epoch };
  if (record.step !== undefined) flat.step = record.step;
  for (const [name, value] of Object.entries(record.metrics)) flat[name] = formatMetric(value);
  return JSON.stringify(flat);
}

/** Parses one line; `reason` says why it is not a record. */
function decodeRecord(line: string): MetricRecord | { readonly reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (cause) {
    return { reason: `not JSON (${cause instanceof Error ? cause.message : String(cause)})` };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { reason: "not a JSON object" };
  const { kind, epoch, step, ...rest } = parsed as Record<string, unknown>;
  if (!(METRIC_KINDS as ReadonlyArray<unknown>).includes(kind)) return { reason: `unknown kind ${JSON.stringify(kind)}` };
  if (typeof epoch !== "number") return { reason: "epoch is missing or not a number" };
  if (step !== undefined && typeof step !== "number") return { reason: "step is not a number" };
  const metrics: Record<string, number> = {};
  for (const [name, value] of Object.entries(rest)) {
    const number = typeof value === "number" ? value : typeof value === "string" ? NON_FINITE[value] : undefined;
    if (number === undefined) return { reason: `metric "${name}" is ${JSON.stringify(value)}, not a number` };
    metrics[name] = number;
  }
  return { kind: kind as MetricKind, epoch, ...(step === undefined ? {} : { step }), metrics };
}

const isRecord = (decoded: MetricRecord | { readonly reason: string }): decoded is MetricRecord => !("reason" in decoded);

export interface MetricsLog {
  readonly path: string;
  /** Set when opening found the tail of a killed run's last write and cut it; says what was lost. */
  readonly recovered: string | undefined;
  append(record: MetricRecord): void;
  close(): void;
}

function io<T>(file: string, action: string, run: () => T): T {
  try {
    return run();
  } catch (cause) {
    throw new MetricsLogError({ file, line: 0, reason: `cannot ${action}: ${cause instanceof Error ? cause.message : String(cause)}` });
  }
}

/**
 * A file that does not end in a newline was cut mid-write. A complete record gets its newline;
 * a fragment is cut off, since appending after it would glue it to the next record.
 */
function repairTail(file: string, fd: number): string | undefined {
  const text = fs.readFileSync(fd, "utf8");
  if (text.length === 0 || text.endsWith("\n")) return undefined;
  const start = text.lastIndexOf("\n") + 1;
  const tail = text.slice(start);
  if (isRecord(decodeRecord(tail))) {
    fs.writeSync(fd, "\n");
    return undefined;
  }
  fs.ftruncateSync(fd, Buffer.byteLength(text.slice(0, start)));
  const line = text.slice(0, start).split("\n").length;
  return `${file} line ${line} was an incomplete record (the run stopped while writing it) and was removed: ${abbreviate(tail)}`;
}

const abbreviate = (text: string) => (text.length > 120 ? `${text.slice(0, 120)}...` : text);

/** Opens (creating the run folder and file if needed) the metrics log of `runDir` for appending. */
export function openMetricsLog(runDir: string): MetricsLog {
  const file = metricsPath(runDir);
  const fd = io(file, "open", () => {
    fs.mkdirSync(runDir, { recursive: true });
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND);
  });
  const recovered = io(file, "repair the end of", () => repairTail(file, fd));
  let closed = false;
  return {
    path: file,
    recovered,
    append(record) {
      if (closed) throw new MetricsLogError({ file, line: 0, reason: "the log is closed" });
      checkRecord(file, record);
      // One write per record keeps a crash from interleaving halves of two records.
      io(file, "append to", () => {
        fs.writeSync(fd, `${encodeRecord(record)}\n`);
        fs.fsyncSync(fd);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      io(file, "close", () => fs.closeSync(fd));
    },
  };
}

export interface MetricsRead {
  readonly records: ReadonlyArray<MetricRecord>;
  /** Problems that were tolerated (an incomplete last line), worded for the user. */
  readonly warnings: ReadonlyArray<string>;
}

/**
 * Parses a metrics.jsonl text. Only the last line may be broken (a kill mid-write); a broken line
 * anywhere else means the file was damaged otherwise and is an error.
 */
export function parseMetrics(text: string, file = METRICS_FILE): MetricsRead {
  const lines = text.split("\n");
  const lastIndex = text.endsWith("\n") ? lines.length - 2 : lines.length - 1;
  const records: MetricRecord[] = [];
  const warnings: string[] = [];
  for (let i = 0; i <= lastIndex; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    const decoded = decodeRecord(line);
    if (isRecord(decoded)) records.push(decoded);
    else if (i === lastIndex && !text.endsWith("\n")) {
      warnings.push(`${file} line ${i + 1} is incomplete (the run stopped while writing it) and was skipped: ${abbreviate(line)}`);
    } else throw new MetricsLogError({ file, line: i + 1, reason: decoded.reason });
  }
  return { records, warnings };
}

export function readMetricsLog(runDir: string): MetricsRead {
  const file = metricsPath(runDir);
  return parseMetrics(io(file, "read", () => fs.readFileSync(file, "utf8")), file);
}

/** Points (x, metric) of one kind's records, for plotting; records without the metric are left out. */
export function metricSeries(
  records: ReadonlyArray<MetricRecord>,
  kind: MetricKind,
  metric: string,
  x: "epoch" | "step" = "epoch",
): Array<readonly [number, number]> {
  return records.flatMap((r) => {
    const value = r.metrics[metric];
    const at = x === "step" ? r.step : r.epoch;
    return r.kind === kind && value !== undefined && at !== undefined ? [[at, value] as const] : [];
  });
}

const csvCell = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

/**
 * One kind's records as CSV. Columns: epoch, step (when any record has one), then every metric in
 * the order it first appears, so the order only depends on the records. Missing values are empty.
 */
export function toCsv(records: ReadonlyArray<MetricRecord>, kind: MetricKind): string {
  const chosen = records.filter((r) => r.kind === kind);
  const metricNames = [...new Set(chosen.flatMap((r) => Object.keys(r.metrics)))];
  const withStep = chosen.some((r) => r.step !== undefined);
  const header = ["epoch", ...(withStep ? ["step"] : []), ...metricNames];
  const cell = (value: number | undefined) => (value === undefined ? "" : String(formatMetric(value)));
  const rows = chosen.map((r) => [
    cell(r.epoch),
    ...(withStep ? [cell(r.step)] : []),
    ...metricNames.map((name) => cell(r.metrics[name])),
  ]);
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

export function writeCsv(records: ReadonlyArray<MetricRecord>, kind: MetricKind, path: string): void {
  io(path, "write", () => fs.writeFileSync(path, toCsv(records, kind)));
}
