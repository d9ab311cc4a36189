/**
 * The optimiser's helper thread: claims staged blocks (helper-protocol.ts) and runs the update kernel over
 * them in the shared arena memory. It sleeps on the wake counter when nothing is staged and reads new arenas
 * from its port synchronously, so it never needs its own event loop.
 */
import { type MessagePort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { CLAIMED, DONE, FAILED, type HelperFailure, type HelperMessage, jobIndex, READY, SLOTS, stateIndex, WAKE } from "./helper-protocol.ts";
import { type ArenaMemory, instantiateKernel, type UpdateKernel } from "./wasm.ts";

const { control: controlBuffer, constants: constantsBuffer, port } = workerData as { control: SharedArrayBuffer; constants: SharedArrayBuffer; port: MessagePort };
const control = new Int32Array(controlBuffer);
const constants = new Float64Array(constantsBuffer);
const kernels = new Map<number, UpdateKernel>();

const readMessages = (): void => {
  for (let received = receiveMessageOnPort(port); received !== undefined; received = receiveMessageOnPort(port)) {
    const message = received.message as HelperMessage;
    if ("forget" in message) kernels.delete(message.forget);
    else kernels.set(message.arena, instantiateKernel(message.memory as ArenaMemory));
  }
};

const claim = (): number => {
  for (let slot = 0; slot < SLOTS; slot++) if (Atomics.compareExchange(control, stateIndex(slot), READY, CLAIMED) === READY) return slot;
  return -1;
};

const run = (slot: number): void => {
  const job = jobIndex(slot);
  const arena = control[job]!;
  if (!kernels.has(arena)) readMessages();
  const kernel = kernels.get(arena);
  if (kernel === undefined) throw new Error(`no arena ${arena}`);
  const c = constants;
  kernel.adam(control[job + 1]!, control[job + 2]!, control[job + 3]!, control[job + 4]!, control[job + 5]!, c[0]!, c[1]!, c[2]!, c[3]!, c[4]!, c[5]!, c[6]!, c[7]!, c[8]!);
};

for (;;) {
  const wake = Atomics.load(control, WAKE);
  const slot = claim();
  if (slot < 0) {
    readMessages();
    Atomics.wait(control, WAKE, wake);
    continue;
  }
  // The optimiser may be waiting for this slot (helper-only mode): Ready -> Claimed wakes it to wait for Done.
  Atomics.notify(control, stateIndex(slot));
  let outcome = DONE;
  try {
    run(slot);
  } catch (error) {
    outcome = FAILED;
    // Posted before the state changes, so it is queued when the optimiser sees FAILED and reads its port.
    const failure: HelperFailure =
      error instanceof Error
        ? { failed: slot, name: error.name, message: error.message, stack: error.stack ?? "" }
        : { failed: slot, name: typeof error, message: String(error), stack: "" };
    port.postMessage(failure);
  }
  Atomics.store(control, stateIndex(slot), outcome);
  Atomics.notify(control, stateIndex(slot));
}
