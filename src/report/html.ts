/**
 * The run report: one self-contained HTML page (inline CSS and SVG, no scripts, no network) that
 * opens offline from the run folder. Images are referenced by a path relative to the page, or
 * embedded with `pngDataUri`. Every text given is escaped; plots are inserted as the SVG that
 * `linePlot` made, which escapes its own text.
 */
import { Schema } from "effect";
import { escapeMarkup, PLOT_WIDTH } from "./plot.ts";

export interface HeadlineFigure {
  readonly label: string;
  readonly value: string | number;
  /** Small print under the value, e.g. "base model: 0.0%". */
  readonly note?: string;
}

export interface ReportImage {
  /** A path relative to the page (e.g. "grids/after-0010-epochs.png") or a data: URI. */
  readonly src: string;
  readonly caption: string;
}

export interface ReportTable {
  readonly columns: ReadonlyArray<string>;
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>;
}

export interface ReportSection {
  readonly title: string;
  /** SVG documents from `linePlot`. */
  readonly plots?: ReadonlyArray<string>;
  readonly images?: ReadonlyArray<ReportImage>;
  readonly tables?: ReadonlyArray<ReportTable>;
}

export interface ReportOptions {
  readonly title: string;
  readonly runId: string;
  /** When the run started, as the caller wants it shown (e.g. an ISO timestamp). */
  readonly createdAt: string;
  /** The resolved pipeline file, shown verbatim in a collapsed block. */
  readonly config: string;
  readonly headline: ReadonlyArray<HeadlineFigure>;
  readonly warnings: ReadonlyArray<string>;
  readonly sections: ReadonlyArray<ReportSection>;
}

/** Report content that cannot be placed on the page. */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
  section: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `report section "${this.section}": ${this.reason}`;
  }
}

export function pngDataUri(bytes: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(bytes).toString("base64")}`;
}

/** Numbers with four significant digits, which is what a reader compares; NaN stays visible. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 1e-4 && magnitude < 1e6 ? String(Number(value.toPrecision(4))) : value.toExponential(3);
}

const text = (value: string | number) => escapeMarkup(typeof value === "number" ? formatNumber(value) : value);

const STYLE = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f4; color: #1d1d1f; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid #d6d6d2; }
.meta { color: #5f5f63; margin: 0 0 20px; }
.meta code { font-size: 13px; }
nav { margin: 0 0 20px; font-size: 14px; }
nav a { margin-right: 14px; color: #0b5cab; }
.headline { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 20px; }
.figure { background: #fff; border: 1px solid #dcdcd8; border-radius: 8px; padding: 12px 16px; min-width: 150px; }
.figure .label { font-size: 13px; color: #5f5f63; }
.figure .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .note { font-size: 12px; color: #5f5f63; }
.warnings { background: #fff4e5; border: 1px solid #f0b45a; border-radius: 8px; padding: 10px 16px; margin: 0 0 20px; }
.warnings h2 { border: 0; margin: 0 0 4px; padding: 0; font-size: 16px; color: #8a4b00; }
.warnings ul { margin: 0; padding-left: 20px; }
.ok { color: #2d6a2d; margin: 0 0 20px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots svg { flex: 1 1 460px; max-width: min(100%, ${PLOT_WIDTH}px); height: auto; border: 1px solid #dcdcd8; border-radius: 6px; background: #fff; }
.images { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 16px; }
/* As a table caption the caption is only as wide as the image: long captions wrap, the frame hugs the grid. */
figure { display: table; margin: 0; background: #fff; border: 1px solid #dcdcd8; border-bottom: 0; border-radius: 6px 6px 0 0; padding: 8px; }
figure img { display: block; max-width: 100%; image-rendering: pixelated; }
figcaption { display: table-caption; caption-side: bottom; font-size: 13px; color: #5f5f63; padding: 6px 8px 8px;
  background: #fff; border: 1px solid #dcdcd8; border-top: 0; border-radius: 0 0 6px 6px; }
table { border-collapse: collapse; background: #fff; margin-top: 16px; font-size: 14px; }
th, td { border: 1px solid #dcdcd8; padding: 4px 10px; }
th { background: #efefec; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
details { margin-top: 36px; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #fff; border: 1px solid #dcdcd8; border-radius: 6px; padding: 12px; overflow-x: auto; font-size: 13px; }
`;

function renderTable(table: ReportTable, section: string): string {
  table.rows.forEach((row, r) => {
    if (row.length !== table.columns.length) {
      throw new ReportError({ section, reason: `table row ${r} has ${row.length} cells for ${table.columns.length} columns` });
    }
  });
  const head = table.columns.map((c) => `<th>${text(c)}</th>`).join("");
  const body = table.rows
    .map((row) => `<tr>${row.map((cell) => `<td${typeof cell === "number" ? ' class="number"' : ""}>${text(cell)}</td>`).join("")}</tr>`)
    .join("\n");
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function renderSection(section: ReportSection, index: number): string {
  const parts = [`<section id="section-${index + 1}">`, `<h2>${text(section.title)}</h2>`];
  const plots = section.plots ?? [];
  plots.forEach((svg, p) => {
    // Guards against passing a title or HTML where a plot belongs; such text would go in unescaped.
    if (!/^<svg[\s>]/.test(svg.trimStart())) throw new ReportError({ section: section.title, reason: `plot ${p} is not an SVG document` });
  });
  if (plots.length > 0) parts.push(`<div class="plots">\n${plots.join("\n")}\n</div>`);
  const images = section.images ?? [];
  if (images.length > 0) {
    const figures = images.map(
      (image) =>
        `<figure><img src="${escapeMarkup(image.src)}" alt="${text(image.caption)}">` +
        `<figcaption>${text(image.caption)}</figcaption></figure>`,
    );
    parts.push(`<div class="images">\n${figures.join("\n")}\n</div>`);
  }
  for (const table of section.tables ?? []) parts.push(renderTable(table, section.title));
  parts.push(`</section>`);
  return parts.join("\n");
}

export function renderReport(options: ReportOptions): string {
  const headline = options.headline
    .map(
      (figure) =>
        `<div class="figure"><div class="label">${text(figure.label)}</div><div class="value">${text(figure.value)}</div>` +
        (figure.note === undefined ? "" : `<div class="note">${text(figure.note)}</div>`) +
        `</div>`,
    )
    .join("\n");
  const warningItems = options.warnings.map((w) => `<li>${text(w)}</li>`).join("\n");
  const warnings =
    options.warnings.length === 0
      ? `<p class="ok">No warnings.</p>`
      : `<div class="warnings"><h2>Warnings (${options.warnings.length})</h2><ul>\n${warningItems}\n</ul></div>`;
  const nav = options.sections.map((s, i) => `<a href="#section-${i + 1}">${text(s.title)}</a>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">
<title>${text(options.title)} · ${text(options.runId)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${text(options.title)}</h1>
<p class="meta">run <code>${text(options.runId)}</code> · ${text(options.createdAt)}</p>
<div class="headline">
${headline}
</div>
${warnings}
<nav>${nav}</nav>
${options.sections.map(renderSection).join("\n")}
<details>
<summary>Resolved pipeline</summary>
<pre>${text(options.config)}</pre>
</details>
</main>
</body>
</html>
`;
}
