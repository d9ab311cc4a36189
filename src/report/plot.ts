/**
 * Line plots as standalone SVG strings, for the offline report page (inline SVG needs no rasterising).
 *
 * Points are drawn in the order given. A point whose x or y is not finite (or y <= 0 on a log axis)
 * breaks the line: the series continues as a new segment after it, so a diverged step shows as a gap
 * rather than a line through invented values. A point with no neighbour on either side gets a marker.
 *
 * A constant reference (say the base model's alignment) is a `references` entry: a dashed horizontal
 * line across the whole plot with its own legend entry. A reference that changes over time (the
 * reward of the reference images at each evaluation) is simply another series, e.g. dashed.
 */

export type Point = readonly [x: number, y: number];

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<Point>;
  /** Any SVG colour; by default the next colour of a colour-blind-safe palette. */
  readonly colour?: string;
  readonly dashed?: boolean;
  /** A shaded band [x, low, high] behind the line, e.g. mean +/- std; gaps like the points. */
  readonly band?: ReadonlyArray<readonly [x: number, low: number, high: number]>;
}

export interface ReferenceLine {
  readonly name: string;
  readonly y: number;
  readonly colour?: string;
}

export interface LinePlotOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: ReadonlyArray<Series>;
  readonly references?: ReadonlyArray<ReferenceLine>;
  /** Pixels (default 640 x 360); the page scales the SVG down to fit narrow screens. */
  readonly width?: number;
  readonly height?: number;
  /** Logarithmic y axis; values <= 0 become gaps. */
  readonly yLog?: boolean;
}

/** Okabe-Ito colours, readable by colour-blind readers; yellow left out for contrast on white. */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const FONT_SIZE = 12;
/** Rough width of a character at FONT_SIZE in a sans-serif font, for laying out the legend. */
const CHAR_WIDTH = 6.8;
const DASH = "6 4";

/** Escapes text for XML and HTML content and attribute values alike. */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Ticks {
  /** Tick values, ascending, the first <= the data minimum and the last >= the maximum. */
  readonly values: ReadonlyArray<number>;
  readonly labels: ReadonlyArray<string>;
}

/** A step of 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  // The slack absorbs rounding, e.g. a span of 0.55 - 0.45 = 0.10000000000000003.
  const at = (limit: number) => fraction <= limit * (1 + 1e-9);
  return (at(1) ? 1 : at(2) ? 2 : at(5) ? 5 : 10) * power;
}

function formatTick(value: number, step: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-4) {
    const digits = Math.max(0, Math.floor(Math.log10(magnitude)) - Math.floor(Math.log10(step)));
    return value.toExponential(Math.min(digits, 6)).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  return String(Number(value.toFixed(Math.max(0, -Math.floor(Math.log10(step))))));
}

/**
 * About `target` intervals of a 1-2-5 step covering [min, max]; `integer` keeps steps >= 1 (epochs).
 * An empty range is widened around its value first.
 */
export function niceTicks(min: number, max: number, target = 5, integer = false): Ticks {
  if (min === max) {
    const pad = integer ? 1 : min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, target, integer);
  }
  const step = Math.max(niceStep((max - min) / target), integer ? 1 : 0);
  // The small slack keeps 0.6 / 0.2 = 2.9999999999999996 from adding a tick below the data.
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const values = Array.from({ length: last - first + 1 }, (_, i) => {
    const value = (first + i) * step;
    return step < 1 ? Number(value.toFixed(Math.ceil(-Math.log10(step)) + 1)) : value;
  });
  return { values, labels: values.map((v) => formatTick(v, step)) };
}

/** Ticks at powers of ten (with 2x and 5x between when the range is under three decades). */
export function logTicks(min: number, max: number): Ticks {
  const low = Math.floor(Math.log10(min) + 1e-9);
  const high = Math.max(Math.ceil(Math.log10(max) - 1e-9), low + 1);
  const multiples = high - low <= 2 ? [1, 2, 5] : [1];
  const values: number[] = [];
  for (let k = low; k <= high; k++) {
    for (const m of multiples) if (k < high || m === 1) values.push(Number((m * 10 ** k).toPrecision(1)));
  }
  const label = (v: number) => (v >= 1e-4 && v < 1e5 ? String(v) : v.toExponential().replace("e+", "e"));
  return { values, labels: values.map(label) };
}

interface Axis {
  readonly ticks: Ticks;
  /** Data value -> pixel. */
  readonly toPixel: (value: number) => number;
}

/** [min, max] without spreading into Math.min, which overflows the stack on long runs. */
function extent(values: ReadonlyArray<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

function linearAxis(values: ReadonlyArray<number>, from: number, to: number, integer: boolean): Axis {
  const ticks = values.length === 0 ? niceTicks(0, 1) : niceTicks(...extent(values), 5, integer);
  const low = ticks.values[0];
  const high = ticks.values[ticks.values.length - 1];
  return { ticks, toPixel: (v) => from + ((v - low) / (high - low)) * (to - from) };
}

function logAxis(values: ReadonlyArray<number>, from: number, to: number): Axis {
  const ticks = values.length === 0 ? logTicks(1, 10) : logTicks(...extent(values));
  const low = Math.log10(ticks.values[0]);
  const high = Math.log10(ticks.values[ticks.values.length - 1]);
  return { ticks, toPixel: (v) => from + ((Math.log10(v) - low) / (high - low)) * (to - from) };
}

/** Runs of consecutive drawable items; anything else separates runs. */
function segments<T>(items: ReadonlyArray<T>, drawable: (item: T) => boolean): T[][] {
  const runs: T[][] = [[]];
  for (const item of items) {
    if (drawable(item)) runs[runs.length - 1].push(item);
    else if (runs[runs.length - 1].length > 0) runs.push([]);
  }
  return runs.filter((run) => run.length > 0);
}

const px = (value: number) => String(Math.round(value * 10) / 10);

interface LegendEntry {
  readonly name: string;
  readonly colour: string;
  readonly dashed: boolean;
}

/** Legend entries flowed into rows that fit `width`. */
function legendRows(entries: ReadonlyArray<LegendEntry>, width: number): Array<Array<{ entry: LegendEntry; x: number }>> {
  const rows: Array<Array<{ entry: LegendEntry; x: number }>> = [];
  let x = 0;
  for (const entry of entries) {
    const itemWidth = 26 + entry.name.length * CHAR_WIDTH + 16;
    if (rows.length === 0 || (x > 0 && x + itemWidth > width)) {
      rows.push([]);
      x = 0;
    }
    rows[rows.length - 1].push({ entry, x });
    x += itemWidth;
  }
  return rows;
}

/** The width plots are drawn for; the page never shows one wider, so text keeps one size across plots. */
export const PLOT_WIDTH = 640;

/** Where a plot's parts sit: the plotting area's edges in pixels and its two axes. */
interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly xAxis: Axis;
  readonly yAxis: Axis;
}

/** The title and the legend, its entries flowed into rows. */
function headerSvg(options: LinePlotOptions, frame: Frame, rows: ReturnType<typeof legendRows>): string[] {
  const { width, height, left } = frame;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="${FONT_SIZE}" ` +
      `role="img" aria-label="${escapeMarkup(options.title)}">`,
    `<title>${escapeMarkup(options.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="600">${escapeMarkup(options.title)}</text>`,
  ];
  rows.forEach((row, r) =>
    row.forEach(({ entry, x }) => {
      const y = 34 + r * 18;
      const dash = entry.dashed ? ` stroke-dasharray="${DASH}"` : "";
      out.push(
        `<line x1="${px(left + x)}" y1="${y}" x2="${px(left + x + 22)}" y2="${y}" stroke="${escapeMarkup(entry.colour)}" stroke-width="2"${dash}/>`,
        `<text x="${px(left + x + 26)}" y="${y + 4}">${escapeMarkup(entry.name)}</text>`,
      );
    }),
  );
  return out;
}

/** Grid lines, tick labels, the plotting area's border and the axis labels. */
function axesSvg(options: LinePlotOptions, frame: Frame): string[] {
  const { height, left, right, top, bottom, xAxis, yAxis } = frame;
  const [X, Y] = [xAxis.toPixel, yAxis.toPixel];
  const out = [`<g stroke="#e3e3e3" stroke-width="1">`];
  for (const v of yAxis.ticks.values) out.push(`<line x1="${left}" y1="${px(Y(v))}" x2="${right}" y2="${px(Y(v))}"/>`);
  for (const v of xAxis.ticks.values) out.push(`<line x1="${px(X(v))}" y1="${top}" x2="${px(X(v))}" y2="${bottom}"/>`);
  out.push(`</g>`);
  out.push(`<g class="y-ticks" fill="#444444" text-anchor="end">`);
  yAxis.ticks.values.forEach((v, i) => out.push(`<text x="${left - 6}" y="${px(Y(v) + 4)}">${escapeMarkup(yAxis.ticks.labels[i])}</text>`));
  out.push(`</g>`, `<g class="x-ticks" fill="#444444" text-anchor="middle">`);
  xAxis.ticks.values.forEach((v, i) =>
    out.push(`<text x="${px(X(v))}" y="${bottom + 16}">${escapeMarkup(xAxis.ticks.labels[i])}</text>`),
  );
  out.push(`</g>`);
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888888"/>`,
    `<text x="${px((left + right) / 2)}" y="${height - 8}" text-anchor="middle">${escapeMarkup(options.xLabel)}</text>`,
    `<text transform="translate(16 ${px((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeMarkup(options.yLabel)}</text>`,
  );
  return out;
}

/** One series: its band, its line (broken where points are missing) and, for few points, markers. */
function seriesSvg(series: Series, colour: string, frame: Frame, pointOk: (p: Point) => boolean, bandOk: (b: readonly [number, number, number]) => boolean): string[] {
  const [X, Y] = [frame.xAxis.toPixel, frame.yAxis.toPixel];
  const out: string[] = [];
  for (const run of segments(series.band ?? [], bandOk)) {
    const upper = run.map(([x, , high]) => `${px(X(x))},${px(Y(high))}`);
    const lower = run.map(([x, low]) => `${px(X(x))},${px(Y(low))}`).reverse();
    out.push(`<polygon points="${[...upper, ...lower].join(" ")}" fill="${colour}" fill-opacity="0.15" stroke="none"/>`);
  }
  const runs = segments(series.points, pointOk);
  const path = runs.map((run) => run.map(([x, y], k) => `${k === 0 ? "M" : "L"}${px(X(x))} ${px(Y(y))}`).join(" ")).join(" ");
  const dash = series.dashed === true ? ` stroke-dasharray="${DASH}"` : "";
  if (path !== "") {
    out.push(
      `<path d="${path}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"${dash}>` +
        `<title>${escapeMarkup(series.name)}</title></path>`,
    );
  }
  // Few points read better with markers; a lone point has no line to show it at all.
  const few = runs.reduce((n, run) => n + run.length, 0) <= 40;
  const marked = runs.flatMap((run) => (few || run.length === 1 ? run : []));
  for (const [x, y] of marked) out.push(`<circle cx="${px(X(x))}" cy="${px(Y(y))}" r="2.5" fill="${colour}"/>`);
  return out;
}

export function linePlot(options: LinePlotOptions): string {
  const width = options.width ?? PLOT_WIDTH;
  const height = options.height ?? 360;
  const yLog = options.yLog ?? false;
  const references = options.references ?? [];
  const colourOf = (colour: string | undefined, index: number) => colour ?? PALETTE[index % PALETTE.length];
  const entries: LegendEntry[] = [
    ...options.series.map((s, i) => ({ name: s.name, colour: colourOf(s.colour, i), dashed: s.dashed ?? false })),
    ...references.map((r, i) => ({ name: r.name, colour: colourOf(r.colour, options.series.length + i), dashed: true })),
  ];

  const left = 64;
  const right = width - 16;
  const rows = legendRows(entries, right - left);
  const top = 34 + rows.length * 18 + 6;
  const bottom = height - 44;

  const yOk = (y: number) => Number.isFinite(y) && (!yLog || y > 0);
  const pointOk = ([x, y]: Point) => Number.isFinite(x) && yOk(y);
  const bandOk = ([x, low, high]: readonly [number, number, number]) => Number.isFinite(x) && yOk(low) && yOk(high);
  const drawn = options.series.flatMap((s) => s.points.filter(pointOk));
  const banded = options.series.flatMap((s) => (s.band ?? []).filter(bandOk));
  const xs = [...drawn.map((p) => p[0]), ...banded.map((b) => b[0])];
  const ys = [...drawn.map((p) => p[1]), ...banded.flatMap((b) => [b[1], b[2]]), ...references.map((r) => r.y).filter(yOk)];
  const xAxis = linearAxis(xs, left, right, xs.every(Number.isInteger));
  const yAxis = yLog ? logAxis(ys, bottom, top) : linearAxis(ys, bottom, top, false);
  const frame: Frame = { width, height, left, right, top, bottom, xAxis, yAxis };

  const out = [...headerSvg(options, frame, rows), ...axesSvg(options, frame)];
  if (drawn.length === 0 && banded.length === 0) {
    out.push(`<text x="${px((left + right) / 2)}" y="${px((top + bottom) / 2)}" text-anchor="middle" fill="#888888">no data</text>`);
  }
  references.forEach((reference, i) => {
    if (!yOk(reference.y)) return;
    const colour = escapeMarkup(entries[options.series.length + i].colour);
    const y = px(yAxis.toPixel(reference.y));
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="${DASH}"/>`);
  });
  options.series.forEach((series, i) => out.push(...seriesSvg(series, escapeMarkup(entries[i].colour), frame, pointOk, bandOk)));
  out.push(`</svg>`);
  return out.join("\n");
}
