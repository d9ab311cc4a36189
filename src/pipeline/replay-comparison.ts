/**
 * Replay's ledger: recorded against recomputed values, per column (a reward component, a feature, a step
 * statistic), with the largest difference and the first row in log order that differs beyond the tolerance.
 */
/** A rollout row, or an optimiser step of an epoch. */
export type Where = { readonly epoch: number; readonly group: number; readonly member: number } | { readonly epoch: number; readonly step: number };

export interface ColumnReport {
  readonly column: string;
  /** Values compared (rows, or steps). */
  readonly compared: number;
  /** Rows (or steps) with a difference beyond the tolerance. */
  readonly differing: number;
  readonly maxAbsDiff: number;
  /** The first differing row in log order, with the values that differ most in it. */
  readonly first: { readonly where: Where; readonly recorded: number; readonly recomputed: number } | undefined;
}

/** |a - b| where equal values (NaN included: "no discriminator") differ by 0 and NaN against a number by Infinity. */
const absDiff = (a: number, b: number): number => (a === b || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Number.isNaN(a - b) ? Infinity : Math.abs(a - b));

interface Column {
  compared: number;
  differing: number;
  maxAbsDiff: number;
  first: ColumnReport["first"];
}

export class Comparison {
  private readonly tolerance: number;
  private readonly columns = new Map<string, Column>();

  constructor(tolerance: number) {
    this.tolerance = tolerance;
  }

  /** One row of a column; vectors count as one row, reported by their most different element. */
  add(column: string, where: Where, recorded: number | Float32Array, recomputed: number | Float32Array): void {
    const [a, b] = [typeof recorded === "number" ? [recorded] : recorded, typeof recomputed === "number" ? [recomputed] : recomputed];
    // A length mismatch (a log of another layout) differs by Infinity and shows the two lengths.
    let worst = { diff: a.length === b.length ? 0 : Infinity, recorded: a.length, recomputed: b.length };
    if (a.length === b.length) {
      for (let i = 0; i < a.length; i++) {
        const diff = absDiff(a[i]!, b[i]!);
        if (diff > worst.diff) worst = { diff, recorded: a[i]!, recomputed: b[i]! };
      }
    }
    const c = this.columns.get(column) ?? { compared: 0, differing: 0, maxAbsDiff: 0, first: undefined };
    this.columns.set(column, c);
    c.compared++;
    c.maxAbsDiff = Math.max(c.maxAbsDiff, worst.diff);
    if (worst.diff > this.tolerance) {
      c.differing++;
      c.first ??= { where, recorded: worst.recorded, recomputed: worst.recomputed };
    }
  }

  report(): ColumnReport[] {
    return [...this.columns].map(([column, c]) => ({ column, ...c }));
  }
}
