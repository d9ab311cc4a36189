import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  metricSeries,
  MetricsLogError,
  metricsPath,
  openMetricsLog,
  parseMetrics,
  readMetricsLog,
  toCsv,
  writeCsv,
  type MetricRecord,
} from "../../src/report/metrics-log.ts";

let runDir: string;
beforeEach(() => {
  runDir = nodePath.join(fs.mkdtempSync(nodePath.join(os.tmpdir(), "metrics-")), "run");
});
afterEach(() => fs.rmSync(nodePath.dirname(runDir), { recursive: true, force: true }));

const records: MetricRecord[] = [
  { kind: "generator", epoch: 0, step: 0, metrics: { loss: 0.25, ratio_max: 1.0000001, approx_kl: 0 } },
  { kind: "discriminator", epoch: 0, step: 0, metrics: { accuracy: 0.75 } },
  { kind: "generator", epoch: 0, step: 1, metrics: { loss: Number.NaN, ratio_max: Infinity, approx_kl: -Infinity } },
  { kind: "eval", epoch: 1, metrics: { alignment: 0.8125, aligned_and_styled: 0.1 } },
  { kind: "epoch", epoch: 1, metrics: {} },
];

describe("metrics log", () => {
  it("round-trips records, NaN and infinities included, and each append is on disk before close", () => {
    const log = openMetricsLog(runDir);
    expect(log.recovered).toBeUndefined();
    for (const record of records) log.append(record);
    // What a killed run would leave behind: everything appended so far.
    expect(readMetricsLog(runDir)).toEqual({ records, warnings: [] });
    log.close();
    const lines = fs.readFileSync(metricsPath(runDir), "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(records.length);
    expect(JSON.parse(lines[2])).toEqual({ kind: "generator", epoch: 0, step: 1, loss: "NaN", ratio_max: "Infinity", approx_kl: "-Infinity" });
    expect(lines[3]).toBe('{"kind":"eval","epoch":1,"alignment":0.8125,"aligned_and_styled":0.1}');
  });

  it("skips a torn last line with a warning naming it, and rejects a broken line elsewhere", () => {
    const good = '{"kind":"eval","epoch":2,"alignment":0.5}\n';
    const read = parseMetrics(`${good}{"kind":"generator","epoch":2,"st`, "run/metrics.jsonl");
    expect(read.records).toEqual([{ kind: "eval", epoch: 2, metrics: { alignment: 0.5 } }]);
    expect(read.warnings).toHaveLength(1);
    expect(read.warnings[0]).toMatch(/run\/metrics\.jsonl line 2 is incomplete/);

    expect(() => parseMetrics(`{"kind":"eval","epo\n${good}`)).toThrow(MetricsLogError);
    expect(() => parseMetrics(`${good}{"kind":"eval","epoch":3,"alignment":"high"}\n`)).toThrow(/line 2: metric "alignment" is "high"/);
    expect(() => parseMetrics(`{"kind":"train","epoch":3}\n`)).toThrow(/unknown kind "train"/);
  });

  it("cuts a torn tail when a run resumes, so the next record starts on its own line", () => {
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(metricsPath(runDir), '{"kind":"epoch","epoch":0,"seconds":3}\n{"kind":"epoch","ep');
    const log = openMetricsLog(runDir);
    expect(log.recovered).toMatch(/line 2 was an incomplete record .* removed: \{"kind":"epoch","ep/);
    log.append({ kind: "epoch", epoch: 1, metrics: { seconds: 4 } });
    log.close();
    expect(readMetricsLog(runDir)).toEqual({
      records: [
        { kind: "epoch", epoch: 0, metrics: { seconds: 3 } },
        { kind: "epoch", epoch: 1, metrics: { seconds: 4 } },
      ],
      warnings: [],
    });
  });

  it("keeps a complete last record that lost only its newline", () => {
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(metricsPath(runDir), '{"kind":"epoch","epoch":0,"seconds":3}');
    const log = openMetricsLog(runDir);
    expect(log.recovered).toBeUndefined();
    log.append({ kind: "epoch", epoch: 1, metrics: { seconds: 4 } });
    log.close();
    expect(readMetricsLog(runDir).records.map((r) => r.metrics.seconds)).toEqual([3, 4]);
  });

  it("refuses records it could not read back", () => {
    const log = openMetricsLog(runDir);
    expect(() => log.append({ kind: "eval", epoch: 1, metrics: { epoch: 2 } })).toThrow(/"epoch" cannot name a metric/);
    expect(() => log.append({ kind: "bogus" as "eval", epoch: 1, metrics: {} })).toThrow(MetricsLogError);
    expect(() => log.append({ kind: "eval", epoch: 1.5, metrics: {} })).toThrow(/epoch must be a non-negative integer/);
    log.close();
    expect(() => log.append(records[0])).toThrow(/closed/);
    expect(readMetricsLog(runDir).records).toEqual([]);
  });

  it("gives one kind's points for plotting", () => {
    expect(metricSeries(records, "generator", "loss", "step")).toEqual([
      [0, 0.25],
      [1, Number.NaN],
    ]);
    expect(metricSeries(records, "eval", "alignment")).toEqual([[1, 0.8125]]);
  });
});

describe("CSV export", () => {
  it("has epoch, step, then metrics in first-seen order, with empty cells for missing values", () => {
    const csv = toCsv(
      [
        { kind: "generator", epoch: 0, step: 0, metrics: { b: 1, a: 2 } },
        { kind: "eval", epoch: 0, metrics: { never: 1 } },
        { kind: "generator", epoch: 0, step: 1, metrics: { c: Number.NaN, a: -Infinity } },
      ],
      "generator",
    );
    expect(csv).toBe("epoch,step,b,a,c\n0,0,1,2,\n0,1,,-Infinity,NaN\n");
  });

  it("leaves out the step column when no record has one, and quotes awkward names", () => {
    const csv = toCsv([{ kind: "eval", epoch: 3, metrics: { 'say "hi", twice': 0.5, "line\nbreak": 1 } }], "eval");
    expect(csv).toBe('epoch,"say ""hi"", twice","line\nbreak"\n3,0.5,1\n');
  });

  it("writes the file", () => {
    fs.mkdirSync(runDir, { recursive: true });
    const file = nodePath.join(runDir, "eval.csv");
    writeCsv(records, "eval", file);
    expect(fs.readFileSync(file, "utf8")).toBe("epoch,alignment,aligned_and_styled\n1,0.8125,0.1\n");
  });
});
