import { describe, expect, it } from "vitest";
import { linePlot, logTicks, niceTicks, type LinePlotOptions } from "../../src/report/plot.ts";

/** Tags balance, and no stray < or > is left in text or attributes once tags are removed. */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const [tag, closing, name, selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)(?:\s[^<>]*?)?(\/?)>/g)) {
    if (selfClosing === "/") continue;
    if (closing === "/") expect(stack.pop(), `closing ${tag}`).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(svg.startsWith("<svg ")).toBe(true);
  expect(svg.replace(/<[^<>]*>/g, "")).not.toMatch(/[<>]/);
  expect(svg).not.toMatch(/NaN|Infinity|undefined/);
}

const tickLabels = (svg: string, axis: "x" | "y") => {
  const group = svg.match(new RegExp(`<g class="${axis}-ticks"[^>]*>([\\s\\S]*?)</g>`))?.[1] ?? "";
  return [...group.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
};
const pathData = (svg: string) => [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);

const plot = (series: LinePlotOptions["series"], extra: Partial<LinePlotOptions> = {}) =>
  linePlot({ title: "T", xLabel: "epoch", yLabel: "value", series, ...extra });

describe("nice ticks", () => {
  it("steps by 1, 2 or 5 times a power of ten and covers the data", () => {
    expect(niceTicks(0, 1).labels).toEqual(["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    expect(niceTicks(0.13, 0.87).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.6, 1.4).labels).toEqual(["0.6", "0.8", "1", "1.2", "1.4"]);
    expect(niceTicks(-3, 1017).values).toEqual([-500, 0, 500, 1000, 1500]);
    expect(niceTicks(0.99995, 1.00012).labels).toEqual(["0.99995", "1", "1.00005", "1.0001", "1.00015"]);
    expect(niceTicks(2e-10, 7e-9).labels).toEqual(["0", "2e-9", "4e-9", "6e-9", "8e-9"]);
    for (const [min, max] of [[0, 7], [-0.3, 0.04], [12, 4000], [1e-6, 3e-6]]) {
      const { values } = niceTicks(min, max);
      const step = values[1] - values[0];
      const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
      expect([1, 2, 5]).toContain(mantissa);
      expect(values[0]).toBeLessThanOrEqual(min);
      expect(values[values.length - 1]).toBeGreaterThanOrEqual(max);
    }
  });

  it("widens an empty range and keeps integer axes on whole steps", () => {
    expect(niceTicks(5, 5, 5, true).values).toEqual([4, 5, 6]);
    expect(niceTicks(0, 3, 5, true).values).toEqual([0, 1, 2, 3]);
    expect(niceTicks(0.5, 0.5).labels).toEqual(["0.44", "0.46", "0.48", "0.5", "0.52", "0.54", "0.56"]);
    expect(niceTicks(0, 0).labels).toEqual(["-1", "-0.5", "0", "0.5", "1"]);
  });

  it("puts log ticks on decades, with 2x and 5x over a short range", () => {
    expect(logTicks(1e-3, 0.5).labels).toEqual(["0.001", "0.01", "0.1", "1"]);
    expect(logTicks(0.3, 40).labels).toEqual(["0.1", "1", "10", "100"]);
    expect(logTicks(0.3, 8).labels).toEqual(["0.1", "0.2", "0.5", "1", "2", "5", "10"]);
    expect(logTicks(2e-10, 3e-9).labels[0]).toBe("1e-10");
  });
});

describe("linePlot", () => {
  it("is well-formed SVG with a legend, escaped text and tick labels of the data range", () => {
    const svg = plot(
      [
        { name: "reward <generated> & co", points: [[0, 0], [1, 0.5], [2, 1]] },
        { name: "reference", points: [[0, 0.9], [2, 0.7]], dashed: true },
      ],
      { title: 'Reward "per" epoch', references: [{ name: "base alignment", y: 0.3 }] },
    );
    expectWellFormed(svg);
    expect(svg).toContain("reward &#60;generated&#62; &#38; co");
    expect(svg).not.toContain("<generated>");
    expect(svg).toContain("Reward &#34;per&#34; epoch");
    expect(svg).toContain(">reference</text>");
    expect(svg).toContain(">base alignment</text>");
    expect(tickLabels(svg, "y")).toEqual(["0", "0.2", "0.4", "0.6", "0.8", "1"]);
    expect(tickLabels(svg, "x")).toEqual(["0", "1", "2"]);
    expect(svg).toMatch(/<path [^>]*stroke-dasharray="6 4"/);
    expect(pathData(svg)).toHaveLength(2);
  });

  it("breaks the line at NaN and infinite points into separate segments, marking lone points", () => {
    const svg = plot([{ name: "loss", points: [[0, 1], [1, 2], [2, Number.NaN], [3, 2], [4, 1], [5, Infinity], [6, 3], [7, Number.NaN]] }]);
    expectWellFormed(svg);
    const [d] = pathData(svg);
    expect(d.match(/M/g)).toHaveLength(3);
    expect(d.match(/L/g)).toHaveLength(2);
    // Long series drop the markers except on a point with no line through it.
    const long = plot([{ name: "loss", points: [...Array.from({ length: 50 }, (_, i) => [i, i] as const), [50, Number.NaN], [51, 3]] }]);
    expect(long.match(/<circle /g)).toHaveLength(1);
  });

  it("draws a single point, a constant series and no data without producing NaN coordinates", () => {
    const single = plot([{ name: "one", points: [[3, 0.25]] }]);
    expectWellFormed(single);
    expect(single.match(/<circle /g)).toHaveLength(1);
    expect(tickLabels(single, "x")).toEqual(["2", "3", "4"]);

    const constant = plot([{ name: "flat", points: [[0, 2], [10, 2]] }]);
    expectWellFormed(constant);
    expect(tickLabels(constant, "y")).toContain("2");

    const empty = plot([{ name: "nothing", points: [[0, Number.NaN]] }]);
    expectWellFormed(empty);
    expect(empty).toContain(">no data</text>");
  });

  it("on a log axis, treats values <= 0 as gaps and labels decades", () => {
    const svg = plot([{ name: "kl", points: [[0, 1e-3], [1, 0], [2, 1e-2], [3, 1e-1], [4, -1]] }], { yLog: true });
    expectWellFormed(svg);
    expect(tickLabels(svg, "y")).toEqual(["0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1"]);
    expect(pathData(svg)[0].match(/M/g)).toHaveLength(2);
  });

  it("wraps a long legend onto more rows and copes with a long run", () => {
    const many = Array.from({ length: 8 }, (_, i) => ({ name: `series number ${i}`, points: [[0, i], [1, i]] as const }));
    const svg = plot(many);
    expectWellFormed(svg);
    const legendRowsY = new Set([...svg.matchAll(/<line x1="[\d.]+" y1="(\d+)" x2="[\d.]+" y2="\1" stroke="#/g)].map((m) => m[1]));
    expect(legendRowsY.size).toBeGreaterThan(1);
    const long = Array.from({ length: 200_000 }, (_, i) => [i, Math.sin(i / 1000)] as const);
    expect(tickLabels(plot([{ name: "steps", points: long }]), "y")).toEqual(["-1", "-0.5", "0", "0.5", "1"]);
  });

  it("shades a band behind a series, split at gaps like the line", () => {
    const svg = plot([{ name: "reward", points: [[0, 0], [1, 1], [2, 2]], band: [[0, -1, 1], [1, 0, 2], [2, Number.NaN, 3], [3, 2, 4], [4, 3, 5]] }]);
    expectWellFormed(svg);
    expect(svg.match(/<polygon /g)).toHaveLength(2);
    expect(tickLabels(svg, "y")).toEqual(["-2", "0", "2", "4", "6"]);
  });
});
