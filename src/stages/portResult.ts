import { type MonoTypeOperatorFunction, take, throwIfEmpty } from "rxjs";
import { PortContractError } from "./errors.ts";

/** A port call's single result: the first value, or a contract error if it completes without one. */
export function portResult<T>(stage: string): MonoTypeOperatorFunction<T> {
  return (call) =>
    call.pipe(
      take(1),
      throwIfEmpty(() => new PortContractError({ stage, expected: "one result", found: "no result" })),
    );
}
