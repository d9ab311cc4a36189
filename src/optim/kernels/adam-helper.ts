/**
 * The optimiser's side of its helper thread: one per thread that steps an optimiser, started on first use and
 * unreferenced (it never keeps the process alive). The update is bound by float64 square roots and divisions, so
 * a second core roughly halves it; each element's arithmetic is the same kernel either way, so results do not
 * depend on which thread ran which block. See helper-protocol.ts for the slot states.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { OptimizerHelperFailed } from "../errors.ts";
import { CLAIMED, CONTROL_INTS, DONE, FAILED, FREE, type HelperFailure, type HelperMessage, JOB_INTS, jobIndex, READY, SLOTS, stateIndex, WAKE } from "./helper-protocol.ts";
import type { ArenaMemory, KernelConstants } from "./wasm.ts";

/** A block the helper claimed is 8192 elements (~20 us); this long without it finishing means the thread is gone. */
const STALL_MS = 300_000;

export class AdamHelper {
  readonly #control = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * Int32Array.BYTES_PER_ELEMENT));
  readonly #constants = new Float64Array(new SharedArrayBuffer(9 * Float64Array.BYTES_PER_ELEMENT));
  readonly #port: MessagePort;
  readonly #forget = new FinalizationRegistry<number>((arena) => this.#post({ forget: arena }));

  private constructor() {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const worker = new Worker(new URL("./adam-helper-thread.ts", import.meta.url), {
      workerData: { control: this.#control.buffer, constants: this.#constants.buffer, port: port2 },
      transferList: [port2],
    });
    // A helper that died leaves its claimed block Claimed: the stall check below reports it. Blocks it never
    // claimed are run by the optimiser's own thread, so a missing helper only costs speed.
    worker.on("error", () => undefined);
    worker.unref();
    port1.unref();
  }

  static #instance: AdamHelper | undefined;

  /** This thread's helper, started on first use. */
  static get(): AdamHelper {
    AdamHelper.#instance ??= new AdamHelper();
    return AdamHelper.#instance;
  }

  #post(message: HelperMessage): void {
    this.#port.postMessage(message);
  }

  /** Makes `memory` addressable by the helper as arena `id` until `owner` is garbage-collected. */
  register(owner: object, id: number, memory: ArenaMemory): void {
    this.#post({ arena: id, memory });
    this.#forget.register(owner, id);
  }

  /** Constants for the blocks staged until the next call; only call it with no block in flight. */
  setConstants(constants: KernelConstants): void {
    this.#constants.set(constants);
  }

  /** Blocks staged and not yet claimed by either thread. */
  waiting(): number {
    let count = 0;
    for (let slot = 0; slot < SLOTS; slot++) if (Atomics.load(this.#control, stateIndex(slot)) === READY) count++;
    return count;
  }

  /** Offers the staged block in `slot` (arena id, byte offsets of p, g, m, v, element pairs) to the helper. */
  offer(slot: number, job: readonly [number, number, number, number, number, number]): void {
    const at = jobIndex(slot);
    for (let i = 0; i < JOB_INTS; i++) this.#control[at + i] = job[i]!;
    Atomics.store(this.#control, stateIndex(slot), READY);
    Atomics.add(this.#control, WAKE, 1);
    Atomics.notify(this.#control, WAKE, 1);
  }

  /** Takes back a block the helper has not claimed yet; false when it already has. */
  reclaim(slot: number): boolean {
    return Atomics.compareExchange(this.#control, stateIndex(slot), READY, CLAIMED) === READY;
  }

  /** Whether the helper finished the block in `slot`; throws if it failed on it. */
  done(slot: number): boolean {
    const state = Atomics.load(this.#control, stateIndex(slot));
    if (state === FAILED) throw this.#failure(slot);
    return state === DONE;
  }

  /** The cause the helper posted for the block in `slot` (helper-protocol.ts HelperFailure). */
  #failure(slot: number): OptimizerHelperFailed {
    for (let received = receiveMessageOnPort(this.#port); received !== undefined; received = receiveMessageOnPort(this.#port)) {
      const failure = received.message as HelperFailure;
      if (failure.failed === slot) return new OptimizerHelperFailed({ slot, causeName: failure.name, causeMessage: failure.message, causeStack: failure.stack });
    }
    return new OptimizerHelperFailed({ slot, causeName: "unknown", causeMessage: "the helper thread posted no cause", causeStack: "" });
  }

  /** Blocks until the helper finishes the block in `slot`, which it has claimed or will claim. */
  awaitDone(slot: number): void {
    const deadline = performance.now() + STALL_MS;
    while (!this.done(slot)) {
      if (performance.now() > deadline) throw new Error(`the optimiser's helper thread has not finished a block in ${STALL_MS / 1000} s: it has stopped`);
      const state = Atomics.load(this.#control, stateIndex(slot));
      if (state === READY || state === CLAIMED) Atomics.wait(this.#control, stateIndex(slot), state, 1000);
    }
  }

  /** Returns `slot` for staging once its block's results are copied out. */
  release(slot: number): void {
    Atomics.store(this.#control, stateIndex(slot), FREE);
  }
}
