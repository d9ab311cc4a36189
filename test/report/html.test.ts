import { describe, expect, it } from "vitest";
import { decodePng, encodePng } from "../../src/io/png.ts";
import { formatNumber, pngDataUri, renderReport, ReportError, type ReportOptions } from "../../src/report/html.ts";
import { linePlot } from "../../src/report/plot.ts";

const evil = "a red <script>alert(1)</script> circle & \"friends\"";
const plot = linePlot({ title: "Alignment", xLabel: "epoch", yLabel: "fraction", series: [{ name: "alignment", points: [[0, 0.8], [5, 0.7]] }] });

const report = (overrides: Partial<ReportOptions> = {}): string =>
  renderReport({
    title: "Adv-GRPO <run>",
    runId: "run-42",
    createdAt: "2025-01-01T00:00:00Z",
    config: `prompts:\n  - "${evil}"\n`,
    headline: [
      { label: "aligned-and-styled", value: "57.5%", note: "base model: 0.0%" },
      { label: "DINO similarity", value: 0.6123456 },
    ],
    warnings: [`epoch 12: reward rose while alignment fell for ${evil}`],
    sections: [
      {
        title: "Evaluation",
        plots: [plot],
        images: [{ src: "grids/epoch 010.png", caption: `prompt: ${evil}` }],
        tables: [{ columns: ["epoch", "prompt", "alignment"], rows: [[10, evil, 0.8125], [20, "blue square", Number.NaN]] }],
      },
      { title: "Empty section" },
    ],
    ...overrides,
  });

describe("renderReport", () => {
  it("shows the headline figures, run identity and warnings", () => {
    const html = report();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain('<div class="value">57.5%</div>');
    expect(html).toContain('<div class="note">base model: 0.0%</div>');
    expect(html).toContain('<div class="value">0.6123</div>');
    expect(html).toContain("run-42");
    expect(html).toContain("Warnings (1)");
    expect(report({ warnings: [] })).toContain("No warnings.");
  });

  it("escapes every text it is given, so a prompt cannot inject markup", () => {
    const html = report();
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("a red &#60;script&#62;alert(1)&#60;/script&#62; circle &#38; &#34;friends&#34;");
    expect(html).toContain("<h1>Adv-GRPO &#60;run&#62;</h1>");
    expect(html).toContain('src="grids/epoch 010.png"');
    expect(report({ sections: [{ title: "x", images: [{ src: '"><b>', caption: "c" }] }] })).toContain('src="&#34;&#62;&#60;b&#62;"');
  });

  it("embeds the plots inline and needs nothing from outside the run folder", () => {
    const html = report();
    expect(html).toContain(plot);
    expect(html).not.toMatch(/<link|<script|@import|src="https?:|url\(/i);
    expect(html).toMatch(/<details>\s*<summary>Resolved pipeline<\/summary>\s*<pre>prompts:\n/);
    expect(html).toContain('<td class="number">0.8125</td>');
    expect(html).toContain('<td class="number">NaN</td>');
    expect(html).toContain('<a href="#section-2">Empty section</a>');
  });

  it("refuses a plot that is not SVG and a table row of the wrong width", () => {
    expect(() => report({ sections: [{ title: "Evaluation", plots: ["<b>not a plot</b>"] }] })).toThrow(ReportError);
    expect(() => report({ sections: [{ title: "Evaluation", tables: [{ columns: ["a", "b"], rows: [[1]] }] }] })).toThrow(
      /report section "Evaluation": table row 0 has 1 cells for 2 columns/,
    );
  });
});

describe("helpers", () => {
  it("embeds PNG bytes as a data URI that decodes back", () => {
    const image = { data: new Float32Array([1, 0, 0, 1, 0, 0]), height: 1, width: 2 };
    const uri = pngDataUri(encodePng(image));
    expect(uri.startsWith("data:image/png;base64,")).toBe(true);
    expect(decodePng(Buffer.from(uri.slice("data:image/png;base64,".length), "base64")).data).toEqual(image.data);
  });

  it("formats numbers to four significant digits, keeping integers and non-finite values", () => {
    const values = [0.6123456, 12, 1234.5678, 1e-7, Number.NaN, -Infinity];
    expect(values.map(formatNumber)).toEqual(["0.6123", "12", "1235", "1.000e-7", "NaN", "-Infinity"]);
  });
});
