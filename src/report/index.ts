/** The run report: metrics log, plots, image grids, the reward-hacking monitor and the HTML page. */
export { composeGrid, GridError, gridPng, type GridOptions } from "./grid.ts";
export {
  hackingWarnings,
  HackingMonitorError,
  type EvalSummary,
  type HackingMonitorOptions,
  type HackingWarning,
} from "./hacking-monitor.ts";
export {
  formatNumber,
  pngDataUri,
  renderReport,
  ReportError,
  type HeadlineFigure,
  type ReportImage,
  type ReportOptions,
  type ReportSection,
  type ReportTable,
} from "./html.ts";
export {
  METRIC_KINDS,
  METRICS_FILE,
  metricSeries,
  MetricsLogError,
  metricsPath,
  openMetricsLog,
  parseMetrics,
  readMetricsLog,
  toCsv,
  writeCsv,
  type MetricKind,
  type MetricRecord,
  type MetricsLog,
  type MetricsRead,
} from "./metrics-log.ts";
export {
  escapeMarkup,
  linePlot,
  logTicks,
  niceTicks,
  type LinePlotOptions,
  type Point,
  type ReferenceLine,
  type Series,
  type Ticks,
} from "./plot.ts";
