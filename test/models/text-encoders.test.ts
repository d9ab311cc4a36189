import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { checkPromptsEmbedded, loadEmbeddingsFile, parseEmbeddingsFile } from "../../src/models/text/embeddings-file.ts";
import { loadOnnxTextEncoder, loadTokenizer } from "../../src/models/text/onnx-encoder.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/text/${name}`, import.meta.url));
const expected = () => {
  const file = fixture("tiny_clip.expected.safetensors");
  const st = decodeSafetensors(readFileSync(file), file);
  const get = (name: string) => st.tensors.find((t) => t.name === name)!;
  return { prompts: JSON.parse(st.metadata.prompts!) as string[], ids: Array.from(get("input.input_ids").data as BigInt64Array, Number), pooled: toFloat32(get("output.text_embeds"), file), tokens: toFloat32(get("output.last_hidden_state"), file) };
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe("CLIP-style ONNX text encoder with a tokenizer.json", () => {
  it("tokenises like CLIPTokenizer with padding to max_length: bos, words, eos, eos padding", () => {
    const e = expected();
    const tokenizer = loadTokenizer(fixture("tokenizer.json"), 8);
    expect(tokenizer.encode(e.prompts)).toEqual(e.ids);
    // a word outside the merges still tokenises, into smaller pieces, and a long prompt keeps its end-of-text
    const long = tokenizer.encode(["a zebra red fox in snow at dusk"]);
    expect(long.length).toBe(8);
    expect(long[7]).toBe(e.ids[e.ids.length - 1]);
  });

  it("reproduces PyTorch's embeddings through ONNX Runtime", async () => {
    const e = expected();
    const encoder = await loadOnnxTextEncoder({ model: fixture("tiny_clip.onnx"), tokenizer: fixture("tokenizer.json"), maxLength: 8 });
    expect([encoder.width, ...encoder.tokenShape!]).toEqual([20, 8, 24]);
    const out = await encoder.encode(e.prompts);
    const pooledError = maxAbsDiff(out.pooled!.data as Float32Array, e.pooled);
    const tokenError = maxAbsDiff(out.tokens!.data as Float32Array, e.tokens);
    console.log(`[text] tiny CLIP vs PyTorch: pooled max abs error ${pooledError.toExponential(2)}, tokens ${tokenError.toExponential(2)}`);
    expect(pooledError).toBeLessThan(1e-5);
    expect(tokenError).toBeLessThan(1e-5);
    await encoder.release();
  });

  it("names the file and tensor of a wrong maxLength", async () => {
    await expect(loadOnnxTextEncoder({ model: fixture("tiny_clip.onnx"), tokenizer: fixture("nope.json"), maxLength: 8 })).rejects.toThrow(/text encoder .*nope\.json: tokenizer: expected a readable JSON file/);
  });
});

describe("prompt-embeddings files", () => {
  it("looks prompts up by string, the empty prompt in the negative_* tensors", () => {
    const file = loadEmbeddingsFile(fixture("sd3_tiny_prompts.safetensors"));
    expect(file.tokenShape).toEqual([8, 24]);
    expect(file.width).toBe(20);
    const e = expected();
    // the file was written by the same encoder: its rows equal the encoder's recorded outputs for the same prompts
    const out = file.encode(["a red fox in snow", ""]) as { tokens: { data: Float32Array }; pooled: { data: Float32Array } };
    expect(maxAbsDiff(out.pooled.data.subarray(0, 20), e.pooled.subarray(0, 20))).toBeLessThan(1e-6);
    expect(maxAbsDiff(out.pooled.data.subarray(20), e.pooled.subarray(40, 60))).toBeLessThan(1e-6);
    expect(() => file.encode(["a purple cow"])).toThrow(/sd3_tiny_prompts\.safetensors: prompt 'a purple cow': expected a row in metadata "prompts"/);
    expect(() => checkPromptsEmbedded(file, ["a red fox in snow", "a purple cow"], "prompts.train")).toThrow(/prompts\.train prompts: expected each in metadata "prompts", found 1 missing, e\.g\. 'a purple cow'/);
  });

  it("names the tensor and what was expected of a malformed file", () => {
    const source = fixture("sd3_tiny_prompts.safetensors");
    const st = decodeSafetensors(readFileSync(source), source);
    const rewrite = (edit: (t: (typeof st.tensors)[number]) => (typeof st.tensors)[number] | undefined, metadata = st.metadata) => {
      const dir = mkdtempSync(join(tmpdir(), "emb-"));
      const path = join(dir, "bad.safetensors");
      writeFileSync(path, encodeSafetensors({ tensors: st.tensors.map(edit).filter((t) => t !== undefined), metadata }));
      return () => parseEmbeddingsFile(readFileSync(path), path);
    };
    expect(rewrite((t) => (t.name === "negative_pooled_prompt_embeds" ? undefined : t))).toThrow(/tensor 'negative_pooled_prompt_embeds': expected \[1, 20\], found no such tensor/);
    expect(rewrite((t) => t, { prompts: JSON.stringify(["only one"]) })).toThrow(/tensor 'prompt_embeds': expected 1 rows, one per prompt/);
    expect(rewrite((t) => t, {})).toThrow(/metadata "prompts": expected a JSON array of the prompt strings, one per row, found no such key/);
    expect(rewrite((t) => (t.name === "pooled_prompt_embeds" ? { ...t, shape: [6, 4, 5] } : t))).toThrow(/tensor 'pooled_prompt_embeds': expected \[N, D'\], found \[6, 4, 5\]/);
  });
});
