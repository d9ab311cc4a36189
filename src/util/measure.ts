interface Timing {
  readonly medianMs: number;
  readonly minMs: number;
  readonly runs: number;
}

/** Runs `fn` `warmup` times untimed, then `runs` times; the median resists the machine's 10-30% noise. */
export const measure = async (fn: () => Promise<unknown> | unknown, runs = 10, warmup = 2): Promise<Timing> => {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)]!, minMs: times[0]!, runs };
};

export const gflops = (flops: number, ms: number): number => flops / (ms * 1e6);

export interface OneRun {
  readonly ms: number;
  /** CPU time of the whole process (every thread) during the run: unlike `ms`, it leaves out time spent waiting for a core. */
  readonly cpuMs: number;
}

/** Times one run of `fn`, elapsed and CPU. */
export const timeOnce = async (fn: () => Promise<unknown> | unknown): Promise<OneRun> => {
  const [start, cpu] = [performance.now(), process.cpuUsage()];
  await fn();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000 };
};
