/**
 * Adam's moment buffers in WebAssembly memory and the SIMD update (update.wat) that runs over them.
 *
 * The kernel can only address its own memory, so m and v live there for good and only p and g travel:
 * a chunk of each is copied into a small scratch region (it stays in cache), updated, and p copied back.
 * A wasm32 memory holds at most 4 GiB, so the moments are spread over arenas of at most 1 GiB, each with
 * its own kernel instance; a tensor too large for one arena is split across several by element range.
 *
 * Tensors of several chunks are shared with a helper thread (adam-helper.ts): this thread copies some chunks
 * into staging slots of the (shared) arena for the helper and updates the others itself, staging more while
 * the helper keeps up and fewer when it does not, so the split follows whatever cores the machine gives.
 */
import type { SlotStore } from "../slot-store.ts";
import { AdamHelper } from "./adam-helper.ts";
import { SLOTS } from "./helper-protocol.ts";
import { type ArenaMemory, instantiateKernel, type KernelConstants, sharedMemory, type UpdateKernel } from "./wasm.ts";

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
/** Elements of p and g copied per kernel call: 2 x 32 KiB of scratch, far inside L2 beside the moments it meets. */
const CHUNK = 8192;
const CHUNK_BYTES = CHUNK * BYTES;
/** This thread's scratch (p, g), then one p, g pair per staging slot. */
const SCRATCH_BYTES = 2 * CHUNK_BYTES * (1 + SLOTS);
const MAX_ARENA_BYTES = 1 << 30;
/** Staged chunks left for the helper at any time: enough that it never waits while this thread updates a chunk. */
const LEAD = 2;
/** Pieces of fewer chunks stay on this thread: waking the helper would cost about what it saves. */
const MIN_SHARED_CHUNKS = 3;

/** Even lengths, so the two-lane kernel never writes past a piece; multiples of 4 keep every region 16-byte aligned. */
const padded = (n: number): number => Math.ceil(n / 4) * 4;

let arenaCount = 0;

interface Arena {
  readonly id: number;
  readonly kernel: UpdateKernel;
  readonly memory: ArenaMemory;
  readonly p: Float32Array;
  readonly g: Float32Array;
}

/** Byte offset of staging slot `slot`'s p (its g follows). */
const stagedP = (slot: number): number => 2 * CHUNK_BYTES * (1 + slot);

/** Elements [start, start + length) of one tensor, whose moments sit at byte offsets m and v of `arena`. */
interface Piece {
  readonly arena: Arena;
  readonly start: number;
  readonly length: number;
  readonly m: number;
  readonly v: number;
}

const openArena = (bytes: number): Arena => {
  const memory = sharedMemory(bytes);
  const kernel = instantiateKernel(memory);
  return { id: arenaCount++, kernel, memory, p: new Float32Array(memory.buffer, 0, CHUNK), g: new Float32Array(memory.buffer, CHUNK_BYTES, CHUNK) };
};

/** How the chunks of a shared piece are split: "adaptive" (the product), or every chunk through the helper (tests). */
type Sharing = "adaptive" | "helper-only";

/** Both moments (slots "m" and "v") of every tensor of a parameter set, zero at the start, and the update that uses them. */
export class AdamKernel implements SlotStore {
  readonly names = ["m", "v"] as const;
  readonly #sizes: readonly number[];
  /** pieces[k] covers tensor k in order. */
  readonly #pieces: readonly (readonly Piece[])[];
  readonly #sharing: Sharing;
  /** Set when some piece is large enough to share. */
  readonly #helper: AdamHelper | undefined;

  /** `maxArenaBytes` and `sharing` are changed only by tests, to split tensors over many arenas and to make the helper run every shared chunk. */
  constructor(sizes: readonly number[], maxArenaBytes = MAX_ARENA_BYTES, sharing: Sharing = "adaptive") {
    // The largest piece of one tensor whose two moments fit in one arena beside the scratch.
    const maxPiece = Math.floor((maxArenaBytes - SCRATCH_BYTES) / (2 * BYTES) / 4) * 4;
    this.#sizes = sizes;
    this.#sharing = sharing;
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
    // Started now, so that the thread is up by the first step (it boots while the first gradients are computed).
    if (pieces.some((tensor) => tensor.some((piece) => piece.length >= MIN_SHARED_CHUNKS * CHUNK))) {
      const helper = AdamHelper.get();
      for (const arena of new Set(pieces.flat().map((piece) => piece.arena))) helper.register(this, arena.id, arena.memory);
      this.#helper = helper;
    }
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

  /**
   * One Adam update of every tensor's weights `p[k]` in place from its gradient `g[k]`. Staged chunks may still be
   * with the helper when the next tensor starts (so this thread never waits for it mid-step); all are done and
   * copied back before this returns.
   */
  update(p: readonly Float32Array[], g: readonly Float32Array[], c: AdamConstants): void {
    const constants: KernelConstants = [c.shrink, c.l2, c.b1, 1 - c.b1, c.b2, 1 - c.b2, c.stepSize, c.invSqrtBias2, c.eps];
    const staging = this.#helper === undefined ? undefined : new Staging(this.#helper, this.#sharing, constants);
    this.#pieces.forEach((pieces, k) => {
      for (const piece of pieces) {
        const chunks = Math.ceil(piece.length / CHUNK);
        if (staging === undefined || chunks < MIN_SHARED_CHUNKS) for (let chunk = 0; chunk < chunks; chunk++) updateHere(piece, chunk, p[k]!, g[k]!, constants);
        else staging.run(piece, chunks, p[k]!, g[k]!);
      }
    });
    staging?.finish();
  }
}

/** Chunk `chunk` of `piece` on this thread, through its own scratch. */
const updateHere = (piece: Piece, chunk: number, p: Float32Array, g: Float32Array, constants: KernelConstants): void => {
  const { arena } = piece;
  const done = chunk * CHUNK;
  const from = piece.start + done;
  const n = Math.min(CHUNK, piece.length - done);
  arena.p.set(p.subarray(from, from + n));
  arena.g.set(g.subarray(from, from + n));
  arena.kernel.adam(0, CHUNK_BYTES, piece.m + done * BYTES, piece.v + done * BYTES, (n + 1) >> 1, ...constants);
  p.set(arena.p.subarray(0, n), from);
};

/** A chunk in a staging slot: its piece, its first element and length, and the weights its result goes back to. */
interface Staged {
  readonly slot: number;
  readonly piece: Piece;
  readonly chunk: number;
  readonly n: number;
  readonly p: Float32Array;
}

/**
 * One step's sharing with the helper. Of each shared piece, chunks from the front are staged for the helper (at
 * most LEAD waiting at a time) while chunks from the back are updated here; a staged chunk's result is copied
 * back whenever the helper has finished it, and finish() updates here any the helper never claimed.
 */
class Staging {
  readonly #helper: AdamHelper;
  readonly #helperOnly: boolean;
  readonly #constants: KernelConstants;
  readonly #staged: Staged[] = [];
  readonly #free = Array.from({ length: SLOTS }, (_, slot) => slot);

  constructor(helper: AdamHelper, sharing: Sharing, constants: KernelConstants) {
    this.#helper = helper;
    this.#helperOnly = sharing === "helper-only";
    this.#constants = constants;
    helper.setConstants(constants);
  }

  #job(s: Staged) {
    const offset = s.chunk * CHUNK_BYTES;
    return [s.piece.arena.id, stagedP(s.slot), stagedP(s.slot) + CHUNK_BYTES, s.piece.m + offset, s.piece.v + offset, (s.n + 1) >> 1] as const;
  }

  #copyBack(s: Staged): void {
    s.p.set(new Float32Array(s.piece.arena.memory.buffer, stagedP(s.slot), s.n), s.piece.start + s.chunk * CHUNK);
    this.#helper.release(s.slot);
    this.#free.push(s.slot);
  }

  #reapFinished(): void {
    for (let i = 0; i < this.#staged.length; ) {
      if (this.#helper.done(this.#staged[i]!.slot)) this.#copyBack(this.#staged.splice(i, 1)[0]!);
      else i++;
    }
  }

  #stage(piece: Piece, chunk: number, p: Float32Array, g: Float32Array): void {
    const slot = this.#free.pop()!;
    const from = piece.start + chunk * CHUNK;
    const n = Math.min(CHUNK, piece.length - chunk * CHUNK);
    const buffer = piece.arena.memory.buffer;
    new Float32Array(buffer, stagedP(slot), n).set(p.subarray(from, from + n));
    new Float32Array(buffer, stagedP(slot) + CHUNK_BYTES, n).set(g.subarray(from, from + n));
    const staged = { slot, piece, chunk, n, p };
    this.#helper.offer(slot, this.#job(staged));
    this.#staged.push(staged);
  }

  run(piece: Piece, chunks: number, p: Float32Array, g: Float32Array): void {
    let front = 0;
    let back = chunks;
    while (front < back) {
      this.#reapFinished();
      if (this.#free.length > 0 && (this.#helperOnly || this.#helper.waiting() < LEAD)) this.#stage(piece, front++, p, g);
      else if (this.#helperOnly) this.#helper.awaitDone(this.#staged[0]!.slot);
      else updateHere(piece, --back, p, g, this.#constants);
    }
  }

  finish(): void {
    for (const s of this.#staged) {
      if (!this.#helperOnly && this.#helper.reclaim(s.slot)) {
        const [, pOffset, gOffset, m, v, pairs] = this.#job(s);
        s.piece.arena.kernel.adam(pOffset, gOffset, m, v, pairs, ...this.#constants);
      } else this.#helper.awaitDone(s.slot);
      this.#copyBack(s);
    }
    this.#staged.length = 0;
  }
}
