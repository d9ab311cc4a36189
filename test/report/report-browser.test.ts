/**
 * The run report as a browser shows it: a tiny run's report.html opened in headless Chromium at 1280 px.
 * It must load offline (only file: and data: requests), show every image, and keep every plot inside the
 * page and no wider than it was drawn (a lone plot in a row once stretched to twice its size).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePng } from "../../src/io/png.ts";
import { loadPipelineFile } from "../../src/pipeline/config/load.ts";
import { runFolderOf } from "../../src/pipeline/run-folder.ts";
import { runTraining } from "../../src/pipeline/train.ts";
import { PLOT_WIDTH } from "../../src/report/plot.ts";
import { writeTinyGenerator, writeTinyPipeline } from "../pipeline/fixtures.ts";
import { openPage, type LoadedPage } from "./browser.ts";

const WIDTH = 1280;
let dir: string;
let page: LoadedPage;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "advgrpo-report-browser-"));
  const config = await Effect.runPromise(loadPipelineFile(writeTinyPipeline(dir, await writeTinyGenerator(dir), 2)));
  const folder = runFolderOf(config);
  await runTraining(config, folder, { resume: false, progress: () => {}, stopRequested: () => false });
  page = await openPage(pathToFileURL(folder.report).href, WIDTH, 900);
});
afterAll(() => page?.close());

interface Layout {
  readonly viewport: number;
  readonly scrollWidth: number;
  readonly images: readonly { readonly src: string; readonly shown: boolean }[];
  /** Border box edges; `width` is the drawing's shown width (inside the border), `drawnWidth` its SVG width. */
  readonly plots: readonly { readonly left: number; readonly right: number; readonly width: number; readonly drawnWidth: number }[];
}

const LAYOUT = `({
  viewport: document.documentElement.clientWidth,
  scrollWidth: document.documentElement.scrollWidth,
  images: [...document.images].map((i) => ({ src: i.getAttribute("src"), shown: i.complete && i.naturalWidth > 0 })),
  plots: [...document.querySelectorAll(".plots svg")].map((s) => {
    const r = s.getBoundingClientRect();
    return { left: r.left, right: r.right, width: s.clientWidth, drawnWidth: s.width.baseVal.value };
  }),
})`;

describe("report.html in headless Chromium at 1280 px", () => {
  it("loads offline: every request is the page itself, its grid images or inline data", () => {
    expect(page.requests.length).toBeGreaterThan(1);
    expect(page.requests.filter((url) => !url.startsWith("file:") && !url.startsWith("data:"))).toEqual([]);
  });

  it("shows every image, and every plot inside the page at no more than the size it was drawn for", async () => {
    const layout = await page.evaluate<Layout>(LAYOUT);
    // The page's width is the window's less a vertical scrollbar.
    expect(layout.viewport).toBeGreaterThan(WIDTH - 40);
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.viewport);
    expect(layout.images.length).toBeGreaterThan(0);
    expect(layout.images.filter((i) => !i.shown)).toEqual([]);
    expect(layout.plots.length).toBeGreaterThanOrEqual(6);
    for (const [i, plot] of layout.plots.entries()) {
      expect(plot.drawnWidth, `plot ${i}`).toBe(PLOT_WIDTH);
      expect(plot.left, `plot ${i}`).toBeGreaterThanOrEqual(0);
      expect(plot.right, `plot ${i}`).toBeLessThanOrEqual(layout.viewport);
      expect(plot.width, `plot ${i}`).toBeLessThanOrEqual(plot.drawnWidth);
    }
  });

  it("renders to a screenshot of the page's width", async () => {
    const png = await page.screenshot();
    writeFileSync(join(dir, "report.png"), png);
    expect(decodePng(png).width).toBe(WIDTH);
  });
});
