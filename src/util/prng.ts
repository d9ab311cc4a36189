/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) for everything random in the project.
 *
 * Streams are addressed, not shared: `fork(label)` derives a child stream from this stream's key and the
 * label only, so a child is the same no matter how many numbers the parent has drawn. That keeps e.g.
 * "the noise of step 3 of seed 42" reproducible when unrelated code draws more or fewer numbers.
 * The whole position of a stream is a small JSON-safe object (`state()` / `restoreRng`) for resume.
 */
import { Schema } from "effect";

const Uint32 = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 0xffffffff }));

/** The serialisable position of a stream; `restoreRng(state)` continues exactly where it was taken. */
export const RngState = Schema.Struct({
  /** Identity of the stream (seed and fork path), used to derive children. */
  key: Schema.Tuple([Uint32, Uint32]),
  /** xoshiro128** words. */
  words: Schema.Tuple([Uint32, Uint32, Uint32, Uint32]),
  /** Second Box-Muller sample waiting to be returned, or null. */
  spareNormal: Schema.NullOr(Schema.Number),
});
export type RngState = typeof RngState.Type;

/** A saved RNG state that cannot be restored. */
export class RngStateError extends Schema.TaggedError<RngStateError>()("RngStateError", {
  reason: Schema.String,
}) {
  override get message() {
    return `cannot restore RNG state: ${this.reason}`;
  }
}

/** A seed that is not a safe integer. */
export class RngSeedError extends Schema.TaggedError<RngSeedError>()("RngSeedError", {
  seed: Schema.Number,
}) {
  override get message() {
    return `RNG seed must be a safe integer, got ${this.seed}`;
  }
}

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Standard normal sample (Box-Muller, both samples of a pair are used). */
  normal(): number;
  /** Uniform integer in [0, n); n must be a positive integer (bias below 2^-12 for n < 2^20). */
  int(n: number): number;
  /** Fills `out` with standard normal samples and returns it. */
  fillNormal<T extends Float32Array>(out: T): T;
  /** An independent child stream that depends only on this stream's key and `label`. */
  fork(label: string | number): Rng;
  /** A JSON-safe snapshot of the stream's position. */
  state(): RngState;
}

const TWO_POW_32 = 4294967296;

function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the label's UTF-16 code units, so fork labels of any length map to 32 bits. */
function hashLabel(label: string | number): number {
  const text = typeof label === "number" ? `#${label}` : label;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

function wordsFromKey(k0: number, k1: number): [number, number, number, number] {
  const a = splitmix32(k0 ^ 0x243f6a88);
  const b = splitmix32(k1 ^ a);
  const c = splitmix32(a ^ 0x13198a2e);
  const d = splitmix32(b ^ 0x03707344);
  // xoshiro's all-zero state is a fixed point; the odds are 2^-128 but the guard is free.
  return a | b | c | d ? [a, b, c, d] : [1, 0, 0, 0];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function makeStream(state: RngState): Rng {
  const [k0, k1] = state.key;
  let [s0, s1, s2, s3] = state.words;
  let spare: number | null = state.spareNormal;

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  const next = (): number => nextUint32() / TWO_POW_32;
  const normal = (): number => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - next())); // 1 - next() is in (0, 1]: no log(0)
    const angle = 2 * Math.PI * next();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };

  return {
    next,
    normal,
    int: (n) => {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int needs a positive integer, got ${n}`);
      return Math.floor(next() * n);
    },
    fillNormal: (out) => {
      for (let i = 0; i < out.length; i++) out[i] = normal();
      return out;
    },
    fork: (label) => {
      const c0 = splitmix32(k0 ^ hashLabel(label));
      const c1 = splitmix32(k1 ^ c0 ^ 0x5bd1e995);
      return makeStream({ key: [c0, c1], words: wordsFromKey(c0, c1), spareNormal: null });
    },
    state: () => ({ key: [k0, k1], words: [s0 >>> 0, s1 >>> 0, s2 >>> 0, s3 >>> 0], spareNormal: spare }),
  };
}

/** A stream for `seed` (any safe integer, negative included). */
export function makeRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RngSeedError({ seed });
  const k0 = splitmix32(seed >>> 0);
  const k1 = splitmix32((Math.floor(seed / TWO_POW_32) >>> 0) ^ k0);
  return makeStream({ key: [k0, k1], words: wordsFromKey(k0, k1), spareNormal: null });
}

/** Continues the stream a `state()` snapshot (possibly parsed from JSON) was taken from. */
export function restoreRng(state: unknown): Rng {
  const decoded = Schema.decodeUnknownOption(RngState)(state);
  if (decoded._tag === "None") throw new RngStateError({ reason: `expected ${describeShape()}, got ${JSON.stringify(state)}` });
  const words = decoded.value.words;
  if (words.every((w) => w === 0)) throw new RngStateError({ reason: "all-zero xoshiro words are not a reachable state" });
  return makeStream(decoded.value);
}

function describeShape(): string {
  return "{ key: [uint32, uint32], words: [uint32 x4], spareNormal: number | null }";
}
