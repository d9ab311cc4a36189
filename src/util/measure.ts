export interface Timing {
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
