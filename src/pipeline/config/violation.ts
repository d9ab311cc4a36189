import type { Path } from "./merge.ts";

/** A cross-field rule of a resolved pipeline that does not hold: where, what is wrong, and how to fix it. */
export interface Violation {
  readonly path: Path;
  readonly problem: string;
  readonly fix: string;
}
