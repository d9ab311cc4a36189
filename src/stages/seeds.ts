/**
 * Seeds derived by hashing the coordinates of a draw (run seed, epoch, group, member), so any one
 * seed is computable on its own: resuming at an epoch needs no replayed generator state. The hash
 * only names seeds; every random number is drawn from util/prng.ts.
 */
import { makeRng } from "../util/prng.ts";

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uint32 seed from non-negative safe integers; both 32-bit halves of each part count. */
export function deriveSeed(...parts: readonly number[]): number {
  let h = 0x2545f491;
  for (const part of parts) {
    for (const word of [part >>> 0, Math.floor(part / 2 ** 32) >>> 0]) {
      h = fmix32(Math.imul(h ^ word, 0x9e3779b1) + 0x7f4a7c15);
    }
  }
  return h;
}

/** Fisher-Yates shuffle of a copy, driven by the project's one PRNG seeded with `seed`. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const rng = makeRng(seed);
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return shuffled;
}
