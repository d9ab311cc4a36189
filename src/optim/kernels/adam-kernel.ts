/**
 * Adam's moment buffers in WebAssembly memory and the SIMD update (update.wat) that runs over them.
 *
 * The kernel can only address its own memory, so m and v live there for good and only p and g travel:
 * a chunk of each is copied into a small scratch region (it stays in cache), updated, and p copied back.
 * A wasm32 memory holds at most 4 GiB, so the moments are spread over arenas of at most 1 GiB, each with
 * its own kernel instance; a tensor too large for one arena is split across several by element range.
 */
import type { SlotStore } from "../slot-store.ts";
import { updateKernelBase64 } from "./update-wasm.ts";

/** The part of the WebAssembly JS API used here (the project's TypeScript libraries do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const kernelModule = new wasm.Module(Buffer.from(updateKernelBase64, "base64"));

interface KernelExports {
  adam(p: number, g: number, m: number, v: number, pairs: number, shrink: number, l2: number, b1: number, c1: number, b2: number, c2: number, step: number, invSqrtBias2: number, eps: number): void;
}

/** Per-step constants of the update (adam.ts derives them from the hyper-parameters and the step count). */
export interface AdamConstants {
  readonly shrink: number;
  readonly l2: number;
  readonly b1: number;
  readonly b2: number;
  readonly stepSize: number;
  readonly invSqrtBias2: number;
  readonly eps: number;
}

const BYTES = Float32Array.BYTES_PER_ELEMENT;
const PAGE_BYTES = 65536;
/** Elements of p and g copied per kernel call: 2 x 32 KiB of scratch, far inside L2 beside the moments it meets. */
const CHUNK = 8192;
const SCRATCH_BYTES = 2 * CHUNK * BYTES;
const MAX_ARENA_BYTES = 1 << 30;

/** Even lengths, so the two-lane kernel never writes past a piece; multiples of 4 keep every region 16-byte aligned. */
const padded = (n: number): number => Math.ceil(n / 4) * 4;

interface Arena {
  readonly kernel: KernelExports;
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly p: Float32Array;
  readonly g: Float32Array;
}

/** Elements [start, start + length) of one tensor, whose moments sit at byte offsets m and v of `arena`. */
interface Piece {
  readonly arena: Arena;
  readonly start: number;
  readonly length: number;
  readonly m: number;
  readonly v: number;
}

const openArena = (bytes: number): Arena => {
  const memory = new wasm.Memory({ initial: Math.ceil(bytes / PAGE_BYTES) });
  const kernel = new wasm.Instance(kernelModule, { arena: { memory } }).exports as KernelExports;
  return { kernel, memory, p: new Float32Array(memory.buffer, 0, CHUNK), g: new Float32Array(memory.buffer, CHUNK * BYTES, CHUNK) };
};

/** Both moments (slots "m" and "v") of every tensor of a parameter set, zero at the start, and the update that uses them. */
export class AdamKernel implements SlotStore {
  readonly names = ["m", "v"] as const;
  readonly #sizes: readonly number[];
  /** pieces[k] covers tensor k in order. */
  readonly #pieces: readonly (readonly Piece[])[];

  /** `maxArenaBytes` is lowered only by tests, to split tensors over many arenas. */
  constructor(sizes: readonly number[], maxArenaBytes = MAX_ARENA_BYTES) {
    // The largest piece of one tensor whose two moments fit in one arena beside the scratch.
    const maxPiece = Math.floor((maxArenaBytes - SCRATCH_BYTES) / (2 * BYTES) / 4) * 4;
    this.#sizes = sizes;
    if (maxPiece <= 0) throw new Error(`AdamKernel: an arena of ${maxArenaBytes} bytes leaves no room beside its ${SCRATCH_BYTES}-byte scratch`);
    // Plan first (byte offsets per arena), then allocate each arena once at its final size: a wasm memory that
    // grows detaches every view into it.
    const plans: { bytes: number; pieces: { tensor: number; start: number; length: number; m: number; v: number }[] }[] = [];
    let open = { bytes: SCRATCH_BYTES, pieces: [] as (typeof plans)[number]["pieces"] };
    sizes.forEach((size, tensor) => {
      for (let start = 0; start < size; start += maxPiece) {
        const length = Math.min(maxPiece, size - start);
        const bytes = 2 * padded(length) * BYTES;
        if (open.bytes + bytes > maxArenaBytes) {
          plans.push(open);
          open = { bytes: SCRATCH_BYTES, pieces: [] };
        }
        open.pieces.push({ tensor, start, length, m: open.bytes, v: open.bytes + padded(length) * BYTES });
        open.bytes += bytes;
      }
    });
    plans.push(open);
    const pieces: Piece[][] = sizes.map(() => []);
    for (const plan of plans) {
      const arena = openArena(plan.bytes);
      for (const { tensor, ...piece } of plan.pieces) pieces[tensor]!.push({ arena, ...piece });
    }
    this.#pieces = pieces;
  }

  #view(piece: Piece, moment: string): Float32Array {
    if (moment !== "m" && moment !== "v") throw new Error(`Adam has moments "m" and "v", not "${moment}"`);
    return new Float32Array(piece.arena.memory.buffer, moment === "m" ? piece.m : piece.v, piece.length);
  }

  read(moment: string, k: number): Float32Array {
    const out = new Float32Array(this.#sizes[k]!);
    for (const piece of this.#pieces[k]!) out.set(this.#view(piece, moment), piece.start);
    return out;
  }

  write(moment: string, k: number, data: Float32Array): void {
    for (const piece of this.#pieces[k]!) this.#view(piece, moment).set(data.subarray(piece.start, piece.start + piece.length));
  }

  /** One Adam update of tensor k's weights `p` in place from its gradient `g`. */
  update(k: number, p: Float32Array, g: Float32Array, c: AdamConstants): void {
    for (const { arena, start, length, m, v } of this.#pieces[k]!) {
      for (let done = 0; done < length; done += CHUNK) {
        const from = start + done;
        const n = Math.min(CHUNK, length - done);
        arena.p.set(p.subarray(from, from + n));
        arena.g.set(g.subarray(from, from + n));
        arena.kernel.adam(0, CHUNK * BYTES, m + done * BYTES, v + done * BYTES, (n + 1) >> 1, c.shrink, c.l2, c.b1, 1 - c.b1, c.b2, 1 - c.b2, c.stepSize, c.invSqrtBias2, c.eps);
        p.set(arena.p.subarray(0, n), from);
      }
    }
  }
}
