/**
 * Progress of a long command (run, pretrain, eval, replay) on stderr. On a terminal: one bar at the bottom,
 * redrawn in place, with the rate and the time left; the command's own lines scroll above it. Anywhere else (a
 * pipe, a log file, CI) carriage returns would litter the file, so the bar is a plain line among the command's
 * own, written each time another tenth of the work is done.
 */
import { formatDuration } from "../util/duration.ts";

interface ProgressState {
  readonly done: number;
  readonly total: number;
  /** What is counted: epochs, steps, prompts. */
  readonly unit: string;
  /** `done` when the bar started (a resumed run starts past 0); the rate counts only what this process did. */
  readonly startDone: number;
  readonly elapsedSeconds: number;
}

const BAR_WIDTH = 24;

export const renderBar = (s: ProgressState): string => {
  const fraction = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const rate = (s.done - s.startDone) / s.elapsedSeconds;
  const measured = s.done > s.startDone && s.elapsedSeconds > 0;
  const rateText = !measured ? `- ${s.unit}/s` : rate >= 1 ? `${rate.toFixed(2)} ${s.unit}/s` : `${(1 / rate).toFixed(1)} s/${s.unit.replace(/s$/, "")}`;
  const eta = measured ? formatDuration((s.total - s.done) / rate) : "-";
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${s.done}/${s.total} ${s.unit}  ${rateText}  ETA ${eta}`;
};

interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface ProgressBar {
  /** `done` of the total finished (the first call sets where this process started). */
  update(done: number): void;
  /** One of the command's own lines. */
  line(text: string): void;
  /** Takes the bar off the terminal. */
  end(): void;
}

const CLEAR_LINE = "\r\x1b[K";

/** Which tenth of the work `done` completes (10 once it is all done). */
const tenth = (done: number, total: number) => (total > 0 ? Math.floor((10 * Math.min(done, total)) / total) : 10);

export const progressBar = (out: ProgressOutput, total: number, unit: string, now: () => number = () => performance.now()): ProgressBar => {
  let start: { readonly done: number; readonly at: number } | undefined;
  const barAt = (done: number) => {
    const at = now();
    start ??= { done, at };
    return renderBar({ done, total, unit, startDone: start.done, elapsedSeconds: (at - start.at) / 1000 });
  };
  if (!out.isTTY) {
    // The first update only starts the clock: nothing is measured yet, so it has no estimate to show.
    let writtenTenth: number | undefined;
    return {
      update(done) {
        const text = barAt(done);
        const reached = tenth(done, total);
        if (writtenTenth !== undefined && reached !== writtenTenth) out.write(`${text}\n`);
        writtenTenth = reached;
      },
      line: (text) => void out.write(`${text}\n`),
      end: () => {},
    };
  }
  let shown = "";
  const draw = () => void out.write(`${CLEAR_LINE}${shown}`);
  return {
    update(done) {
      shown = barAt(done);
      draw();
    },
    line(text) {
      out.write(`${CLEAR_LINE}${text}\n`);
      if (shown) draw();
    },
    end() {
      if (shown) out.write(CLEAR_LINE);
      shown = "";
    },
  };
};
