/**
 * Issue 12 class 8: the suite must stay green on a loaded machine, so no test may depend on how fast it
 * runs. Checked on the sources: timeouts only catch hangs (one generous limit, none shorter per test),
 * and no test waits a fixed time or counts timer ticks to decide an outcome.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import config from "../vitest.config.ts";

const HANG_GUARD_MS = 600_000;

const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : testFiles(path);
    return /\.(test|spec)\.ts$/.test(entry.name) ? [path] : [];
  });

const offending = (pattern: RegExp): string[] =>
  [...testFiles("test"), ...testFiles("src")].flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .flatMap((line, i) => (pattern.test(line) ? [`${relative(".", file)}:${i + 1}: ${line.trim()}`] : [])),
  );

describe("the suite does not depend on wall-clock speed", () => {
  it("one generous hang guard for tests and hooks", () => {
    expect(config.test?.testTimeout).toBeGreaterThanOrEqual(HANG_GUARD_MS);
    expect(config.test?.hookTimeout).toBeGreaterThanOrEqual(HANG_GUARD_MS);
  });

  it("no test or hook states a shorter timeout of its own", () => {
    const perTest = offending(/^\s*\}\s*,\s*[0-9_]+\s*\)\s*;?\s*$/);
    const options = offending(/\btimeout:\s*[0-9_]+/).filter((line) => Number(/\btimeout:\s*([0-9_]+)/.exec(line)![1]!.replaceAll("_", "")) < 60_000);
    expect([...perTest, ...options]).toEqual([]);
  });

  it("no fixed sleeps and no timer-tick counts decide an outcome", () => {
    const sleeps = offending(/new Promise\(\s*\(?\w+\)?\s*=>\s*setTimeout\(\s*\w+\s*,\s*[1-9]/);
    const tickCounts = offending(/setInterval\(\s*\(\)\s*=>\s*\w+\s*\+\+/);
    expect([...sleeps, ...tickCounts]).toEqual([]);
  });
});
