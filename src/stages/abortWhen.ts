/**
 * source   --a--b--c--|
 * fault    -------#          (errors, never emits)
 * output   --a--b-#          the fault ends the stream at once; without one it ends with the source
 *
 * For faults outside the stream (a distributed run's NATS server gone, a stream deleted): the ports that
 * meet them would turn them into per-member failures, which onMemberError: "drop-group" would drop like a
 * bad sample, and the epoch would go on with fewer groups.
 */
import { Observable, type MonoTypeOperatorFunction } from "rxjs";

export function abortWhen<T>(fault: Observable<never>): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      subscriber.add(fault.subscribe({ error: (e: unknown) => subscriber.error(e) }));
      if (!subscriber.closed) subscriber.add(source.subscribe(subscriber));
    });
}
