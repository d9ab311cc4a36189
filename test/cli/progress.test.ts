import { describe, expect, it } from "vitest";
import { progressBar, renderBar } from "../../src/cli/progress.ts";

const recorder = (isTTY: boolean) => {
  const writes: string[] = [];
  return { out: { isTTY, write: (text: string) => writes.push(text) }, writes };
};

describe("progress bar", () => {
  it("shows done/total, the rate since it started and the time left", () => {
    expect(renderBar({ done: 15, total: 20, unit: "epochs", startDone: 5, elapsedSeconds: 20 })).toBe("[##################------] 15/20 epochs  2.0 s/epoch  ETA 0m10s");
    expect(renderBar({ done: 30, total: 1000, unit: "steps", startDone: 0, elapsedSeconds: 10 })).toBe("[#-----------------------] 30/1000 steps  3.00 steps/s  ETA 5m23s");
    expect(renderBar({ done: 1, total: 16, unit: "prompts", startDone: 0, elapsedSeconds: 4 })).toBe("[##----------------------] 1/16 prompts  4.0 s/prompt  ETA 1m00s");
    // Nothing measured yet: no rate, no estimate.
    expect(renderBar({ done: 3, total: 10, unit: "epochs", startDone: 3, elapsedSeconds: 0 })).toBe("[#######-----------------] 3/10 epochs  - epochs/s  ETA -");
  });

  it("on a terminal redraws one line in place and keeps the command's lines above it", () => {
    const { out, writes } = recorder(true);
    let t = 0;
    const bar = progressBar(out, 4, "epochs", () => t);
    bar.update(0);
    t = 2000;
    bar.line("epoch 1/4 done");
    bar.update(1);
    bar.end();
    expect(writes).toEqual([
      "\r\x1b[K[------------------------] 0/4 epochs  - epochs/s  ETA -",
      "\r\x1b[Kepoch 1/4 done\n",
      "\r\x1b[K[------------------------] 0/4 epochs  - epochs/s  ETA -",
      "\r\x1b[K[######------------------] 1/4 epochs  2.0 s/epoch  ETA 0m06s",
      "\r\x1b[K",
    ]);
  });

  it("elsewhere writes the bar as a plain line among the command's lines, each time another tenth is done", () => {
    const { out, writes } = recorder(false);
    let t = 0;
    const bar = progressBar(out, 20, "epochs", () => t);
    bar.update(0);
    for (let done = 1; done <= 20; done++) {
      t = done * 1000;
      if (done === 1) bar.line("epoch 1/20 done");
      bar.update(done);
    }
    bar.end();
    expect(writes).toHaveLength(11);
    expect(writes[0]).toBe("epoch 1/20 done\n");
    expect(writes[1]).toBe("[##----------------------] 2/20 epochs  1.00 epochs/s  ETA 0m18s\n");
    expect(writes[10]).toBe("[########################] 20/20 epochs  1.00 epochs/s  ETA 0m00s\n");
    expect(writes.every((w) => !w.includes("\r"))).toBe(true);
  });

  it("elsewhere a resumed count starts the clock where it resumes, without a line", () => {
    const { out, writes } = recorder(false);
    let t = 0;
    const bar = progressBar(out, 10, "epochs", () => t);
    bar.update(6);
    t = 3000;
    bar.update(7);
    expect(writes).toEqual(["[#################-------] 7/10 epochs  3.0 s/epoch  ETA 0m09s\n"]);
  });
});
