import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SafetensorsCorruptError,
  SafetensorsEncodeError,
  SafetensorsIoError,
  SafetensorsMismatchError,
  decodeSafetensors,
  encodeSafetensors,
  fromParamSet,
  readSafetensors,
  toFloat32,
  toParamSet,
  validateAgainst,
  writeSafetensors,
} from "../../src/io/safetensors.ts";
import type { SafeTensor, Safetensors } from "../../src/io/safetensors.ts";
import { paramTensor } from "../../src/optim/param-set.ts";

const FILE = "model.safetensors";

/** A file assembled by hand from the spec: LE u64 header length, header text, raw data. */
const rawFile = (header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array => {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
};

const leBytes = (values: readonly number[], width: 4 | 8): Uint8Array => {
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => (width === 4 ? view.setFloat32(i * 4, v, true) : view.setFloat64(i * 8, v, true)));
  return out;
};

const sample = (): Safetensors => ({
  tensors: [
    { name: "w", dtype: "F32", shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) },
    { name: "scalar", dtype: "F64", shape: [], data: Float64Array.from([Math.PI]) },
    { name: "ids", dtype: "I64", shape: [3], data: BigInt64Array.from([1n, -2n, 2n ** 40n]) },
    { name: "counts", dtype: "I32", shape: [2], data: Int32Array.from([5, -6]) },
    { name: "half", dtype: "F16", shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) },
    { name: "empty", dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
  ],
  metadata: { format: "pt", "optimizer.step": "12" },
});

const corrupt = (bytes: Uint8Array): SafetensorsCorruptError => {
  try {
    decodeSafetensors(bytes, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsCorruptError);
    return error as SafetensorsCorruptError;
  }
  throw new Error("decoding succeeded on corrupt input");
};

describe("safetensors encode/decode", () => {
  it("round-trips every dtype, shapes, order and metadata", () => {
    const decoded = decodeSafetensors(encodeSafetensors(sample()), FILE);
    expect(decoded).toEqual(sample());
  });

  it("writes the spec's byte layout: LE u64 length, space-padded JSON header, raw LE data", () => {
    const a: SafeTensor = { name: "a", dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) };
    const bytes = encodeSafetensors({ tensors: [a], metadata: { k: "v" } });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const headerLength = Number(view.getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    expect(bytes.length).toBe(8 + headerLength + 8);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(JSON.parse(header)).toEqual({ __metadata__: { k: "v" }, a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
    expect(header.trimEnd().length).toBeGreaterThan(headerLength - 8);
    expect([...bytes.subarray(8 + headerLength)]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40]);
  });

  it("reads a hand-made file with an unaligned header and tensors stored out of header order", () => {
    const header = JSON.stringify({
      second: { dtype: "F64", shape: [1], data_offsets: [8, 16] },
      first: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    });
    const data = new Uint8Array([...leBytes([0.5, -3], 4), ...leBytes([1e300], 8)]);
    const decoded = decodeSafetensors(rawFile(`${header} `, data), FILE);
    expect(decoded.metadata).toEqual({});
    expect(decoded.tensors.map((t) => [t.name, t.dtype, [...t.data]])).toEqual([
      ["first", "F32", [0.5, -3]],
      ["second", "F64", [1e300]],
    ]);
  });

  it("converts floating dtypes to fp32", () => {
    const halfBits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555]);
    const half: SafeTensor = { name: "h", dtype: "F16", shape: [6], data: halfBits };
    expect([...toFloat32(half, FILE)]).toEqual([1, -2, 65504, 2 ** -24, Infinity, Math.fround(0.333251953125)]);
    const brain: SafeTensor = { name: "b", dtype: "BF16", shape: [2], data: Uint16Array.from([0x3f80, 0xc0a0]) };
    expect([...toFloat32(brain, FILE)]).toEqual([1, -5]);
    const ints: SafeTensor = { name: "step", dtype: "I64", shape: [1], data: BigInt64Array.from([3n]) };
    expect(() => toFloat32(ints, FILE)).toThrow(SafetensorsMismatchError);
    expect(() => toFloat32(ints, FILE)).toThrow('tensor "step": dtype: expected a floating dtype (F64, F32, F16, BF16), found I64');
  });

  it("keeps a tensor named like an Object.prototype key", () => {
    const odd: Safetensors = { tensors: [{ name: "__proto__", dtype: "I32", shape: [1], data: Int32Array.from([9]) }], metadata: {} };
    expect(decodeSafetensors(encodeSafetensors(odd), FILE)).toEqual(odd);
  });

  it("round-trips a ParamSet", () => {
    const params = [paramTensor("a", [2], Float32Array.from([1, 2])), paramTensor("b", [1, 1], Float32Array.from([3]))];
    const decoded = decodeSafetensors(encodeSafetensors({ tensors: fromParamSet(params), metadata: {} }), FILE);
    expect(toParamSet(decoded, FILE)).toEqual(params);
    expect(() => validateAgainst(decoded, params.map((p) => ({ name: p.name, shape: p.shape, dtype: "F32" })), FILE)).not.toThrow();
  });
});

describe("safetensors bad input", () => {
  const good = () => encodeSafetensors(sample());

  it("a file shorter than the length prefix", () => {
    const error = corrupt(new Uint8Array(5));
    expect(error.message).toBe(`${FILE}: file is truncated: expected at least 8 bytes (the header length), found 5 bytes`);
  });

  it("a file cut inside the data section names the first tensor that no longer fits", () => {
    const bytes = good();
    const error = corrupt(bytes.subarray(0, bytes.length - 10));
    expect(error.problem).toBe("truncated");
    // Data layout: w 24 bytes, scalar 8, ids 24, counts 8, half 4 = 68; cut to 58, "counts" [56, 64] is the first casualty.
    expect(error.message).toBe(
      `${FILE}: file is truncated (tensor "counts"): expected a data section of at least 64 bytes (data_offsets [56, 64]), found 58 bytes`,
    );
  });

  it("a header length past the end of the file", () => {
    const error = corrupt(rawFile("{}", new Uint8Array(0), 1_000_000n));
    expect(error.message).toBe(
      `${FILE}: header length runs past the end of the file (truncated, or not a safetensors file): ` +
        "expected at most 2 bytes (what follows the 8-byte prefix, capped at 100000000), found 1000000 bytes",
    );
  });

  it("a header that is not JSON, or not an object", () => {
    expect(corrupt(rawFile("{not json")).message).toMatch(
      new RegExp(`^${FILE}: header is not valid JSON: expected a JSON object, found .*"\\{not json"`),
    );
    expect(corrupt(rawFile("[1, 2]")).message).toBe(`${FILE}: header is not valid JSON: expected a JSON object, found [1,2]`);
  });

  it("an unsupported dtype, a bad shape, bad offsets and non-string metadata", () => {
    const entry = (fields: object) =>
      rawFile(JSON.stringify({ t: { dtype: "F32", shape: [1], data_offsets: [0, 4], ...fields } }), new Uint8Array(4));
    expect(corrupt(entry({ dtype: "U8" })).message).toBe(
      `${FILE}: invalid header entry (tensor "t"): expected dtype one of F64, F32, F16, BF16, I64, I32, found "U8"`,
    );
    expect(corrupt(entry({ shape: [-1] })).message).toContain('(tensor "t"): expected shape as an array of non-negative integers, found [-1]');
    expect(corrupt(entry({ data_offsets: [0] })).message).toContain("expected data_offsets as [begin, end] non-negative integers, found [0]");
    expect(corrupt(entry({ shape: [2] })).message).toBe(
      `${FILE}: data_offsets do not match the tensor (tensor "t"): expected 8 bytes for F32 [2], found data_offsets [0, 4]`,
    );
    const meta = rawFile(JSON.stringify({ __metadata__: { step: 3 } }));
    expect(corrupt(meta).message).toBe(
      `${FILE}: invalid header entry (tensor "__metadata__"): expected an object of string values, found {"step":3}`,
    );
  });

  it("overlapping tensors name both", () => {
    const header = JSON.stringify({
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
    });
    expect(corrupt(rawFile(header, new Uint8Array(8))).message).toBe(
      `${FILE}: tensors overlap in the data section (tensor "b"): expected data starting at or after byte 8, where "a" ends, found data_offsets [4, 8]`,
    );
  });
});

describe("validateAgainst", () => {
  const spec = [
    { name: "w", shape: [2, 3], dtype: "F32" },
    { name: "bias", shape: [3], dtype: "F32" },
    { name: "scalar", shape: [1], dtype: "F64" },
    { name: "counts", shape: [2], dtype: "I64" },
  ] as const;

  it("lists every missing, unexpected, misshapen and mistyped tensor in one error", () => {
    let error: unknown;
    try {
      validateAgainst(sample(), spec, FILE);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SafetensorsMismatchError);
    expect((error as SafetensorsMismatchError).message).toBe(
      [
        `${FILE}: tensors do not match the model (6 problems):`,
        '  - tensor "bias": missing: expected F32 [3], found no such tensor in the file',
        '  - tensor "scalar": shape: expected [1], found []',
        '  - tensor "counts": dtype: expected I64, found I32',
        '  - tensor "ids": unexpected: expected only the model\'s tensors, found I64 [3] not in the model',
        '  - tensor "half": unexpected: expected only the model\'s tensors, found F16 [2] not in the model',
        '  - tensor "empty": unexpected: expected only the model\'s tensors, found F32 [0, 4] not in the model',
      ].join("\n"),
    );
  });

  it("accepts extra tensors when asked to", () => {
    const fitting = spec.filter((s) => s.name === "w");
    expect(() => validateAgainst(sample(), fitting, FILE, { allowUnexpected: true })).not.toThrow();
    expect(() => validateAgainst(sample(), fitting, FILE)).toThrow(/\(5 problems\)/);
  });
});

describe("safetensors encode errors", () => {
  it("names a tensor whose data does not fit its shape or dtype, and duplicates", () => {
    const encode = (tensors: SafeTensor[]) => () => encodeSafetensors({ tensors, metadata: {} });
    expect(encode([{ name: "w", dtype: "F32", shape: [3], data: new Float32Array(2) }])).toThrow(SafetensorsEncodeError);
    expect(encode([{ name: "w", dtype: "F32", shape: [3], data: new Float32Array(2) }])).toThrow(
      'cannot encode safetensors: tensor "w": expected 3 values for shape [3], found 2 values',
    );
    expect(encode([{ name: "w", dtype: "F64", shape: [1], data: new Float32Array(1) }])).toThrow("expected Float64Array data for F64, found Float32Array");
    const t: SafeTensor = { name: "w", dtype: "F32", shape: [1], data: new Float32Array(1) };
    expect(encode([t, t])).toThrow('tensor "w": expected unique tensor names, found a duplicate');
  });
});

describe("safetensors files", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "advgrpo-safetensors-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes and reads back through node:fs", async () => {
    const path = join(dir, "ckpt.safetensors");
    await Effect.runPromise(writeSafetensors(path, sample()));
    expect(await Effect.runPromise(readSafetensors(path))).toEqual(sample());
  });

  it("a missing file is an IO error naming it; a corrupt file a corrupt error naming it", async () => {
    const missing = join(dir, "nope.safetensors");
    const ioError = await Effect.runPromise(Effect.flip(readSafetensors(missing)));
    expect(ioError).toBeInstanceOf(SafetensorsIoError);
    expect(ioError.message).toMatch(new RegExp(`^${missing}: cannot read safetensors file: ENOENT`));
    const broken = join(dir, "broken.safetensors");
    await writeFile(broken, new Uint8Array(3));
    const corruptError = await Effect.runPromise(Effect.flip(readSafetensors(broken)));
    expect(corruptError.message).toContain(`${broken}: file is truncated`);
  });
});
