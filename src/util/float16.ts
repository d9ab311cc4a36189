/**
 * IEEE 754 binary16 <-> float32 (the log's half-precision latents, fp16 safetensors, fp16 ONNX weights). Written out because Node 22 has
 * no Float16Array, and apache-arrow's float64ToUint16 rounds ties away from even (1 + 2^-11 becomes
 * 0x3C01 instead of 0x3C00), which would make a log's bytes depend on which converter wrote it.
 */

/** The largest finite half; values beyond it would become infinities, so callers refuse them first. */
export const FLOAT16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even conversion of one float32 value to binary16 bits. */
export function float16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200); // inf, or a quiet NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place and round the bits shifted out.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (kept + (rest > half || (rest === half && (kept & 1) === 1) ? 1 : 0));
  }
  const kept = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correctly rounded result (up to inf).
  return sign | (kept + (rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? 1 : 0));
}

/** The float32 value of binary16 bits (exact: every half is a float32). */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export const toFloat16 = (values: Float32Array): Uint16Array => Uint16Array.from(values, float16Bits);

let values16: Float32Array | undefined;

/** A lookup in a table of all 65536 patterns' values (built once): a call per element made widening a model's weights take minutes. */
export const fromFloat16 = (bits: Uint16Array): Float32Array => {
  values16 ??= Float32Array.from({ length: 1 << 16 }, (_, b) => float16Value(b));
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = values16[bits[i]!]!;
  return out;
};
