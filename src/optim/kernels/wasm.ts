/**
 * The compiled update kernel (update.wat) and how to instantiate it over an arena's memory; shared by the
 * optimiser's thread and its helper thread, which run the same code over the same shared memory.
 */
import { updateKernelBase64 } from "./update-wasm.ts";

/** The part of the WebAssembly JS API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => ArenaMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A shared WebAssembly memory: its buffer is a SharedArrayBuffer that both threads' kernel instances address. */
export interface ArenaMemory {
  readonly buffer: SharedArrayBuffer;
}

const PAGE_BYTES = 65536;

/** A fixed-size shared memory (maximum = initial: it never grows, so views into it stay valid). */
export const sharedMemory = (bytes: number): ArenaMemory => {
  const pages = Math.ceil(bytes / PAGE_BYTES);
  return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
};

/**
 * Adam's per-step constants in the order the kernel takes them after its five pointer arguments (byte offsets
 * of p, g, m, v and the pair count): shrink, l2, b1, 1 - b1, b2, 1 - b2, stepSize, invSqrtBias2, eps.
 */
export type KernelConstants = readonly [number, number, number, number, number, number, number, number, number];

export interface UpdateKernel {
  adam(p: number, g: number, m: number, v: number, pairs: number, ...constants: KernelConstants): void;
  /** 1 when the `quads` x 4 float32 values at byte offset x are all finite, else 0. */
  finite(x: number, quads: number): number;
}

const kernelModule = new wasm.Module(Buffer.from(updateKernelBase64, "base64"));

export const instantiateKernel = (memory: ArenaMemory): UpdateKernel =>
  new wasm.Instance(kernelModule, { arena: { memory } }).exports as UpdateKernel;

const CHECK_CHUNK = 8192;
const checkMemory = sharedMemory(CHECK_CHUNK * Float32Array.BYTES_PER_ELEMENT);
const checkKernel = instantiateKernel(checkMemory);
const checkScratch = new Float32Array(checkMemory.buffer, 0, CHECK_CHUNK);

/**
 * Whether every value is finite, four lanes at a time in wasm (chunks copied through a small scratch): about twice
 * as fast as the best JavaScript loop, which converts every value to float64.
 */
export const allFinite = (data: Float32Array): boolean => {
  for (let from = 0; from < data.length; from += CHECK_CHUNK) {
    const n = Math.min(CHECK_CHUNK, data.length - from);
    checkScratch.set(data.subarray(from, from + n));
    const quads = Math.ceil(n / 4);
    checkScratch.fill(0, n, 4 * quads);
    if (checkKernel.finite(0, quads) === 0) return false;
  }
  return true;
};
