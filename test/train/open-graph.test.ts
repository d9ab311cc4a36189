import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WeightFile, writeOnnxModel } from "../../src/graph/external-data.ts";
import { loadOnnx } from "../../src/graph/import.ts";
import { onnxNetwork } from "../../src/models/generator/onnx-network.ts";
import { initParams } from "../../src/nn/params.ts";
import { guidedVelocityModel, POLICY_INPUTS } from "../../src/rl/policy-graph.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { GraphSessions, initialiserBytes } from "../../src/train/open-graph.ts";
import { compileForward, paramFeeds } from "../../src/train/train-graph.ts";
import { makeRng } from "../../src/util/prng.ts";

const lora = { rank: 2, alpha: 4, targets: ["to_q"] };
const net = () => onnxNetwork(loadOnnx("test/fixtures/onnx/sd3_transformer.onnx"), { latentShape: [16, 8, 8], text: { pooledWidth: 20, tokenShape: [8, 24] }, timestepScale: 1000 });

const feedsFor = (batch: number, params: ReturnType<typeof initParams>, seed: number) => {
  const rng = makeRng(seed);
  return {
    ...paramFeeds(params),
    [POLICY_INPUTS.latents]: f32([batch, 16, 8, 8], rng.fillNormal(new Float32Array(batch * 16 * 64))),
    [POLICY_INPUTS.sigma]: f32([batch], Float32Array.from({ length: batch }, (_, i) => 0.3 + 0.25 * i)),
    [POLICY_INPUTS.pooled]: f32([batch, 20], rng.fillNormal(new Float32Array(batch * 20))),
    [POLICY_INPUTS.pooledUncond]: f32([batch, 20], rng.fillNormal(new Float32Array(batch * 20))),
    [POLICY_INPUTS.tokens]: f32([batch, 8, 24], rng.fillNormal(new Float32Array(batch * 8 * 24))),
    [POLICY_INPUTS.tokensUncond]: f32([batch, 8, 24], rng.fillNormal(new Float32Array(batch * 8 * 24))),
  };
};

describe("sessions on graphs written with external data", () => {
  it("two policy graphs of one import share one weight file and compute bit-identically to in-memory sessions", async () => {
    const network = net();
    const graphs = [2, 1].map((batch) => compileForward(`velocity-${batch}`, guidedVelocityModel({ net: network, batch, cfgWeight: 4.5 }), { lora }));
    expect(initialiserBytes(graphs[0]!)).toBeGreaterThan(100_000);
    const rng = makeRng(3);
    const params = initParams(graphs[0]!.params, 1).map((p) => ({ ...p, data: p.data.map(() => 0.1 * rng.normal()) }));
    const feeds = [feedsFor(2, params, 5), feedsFor(1, params, 6)];
    const expected: Float32Array[] = [];
    for (const [i, g] of graphs.entries()) {
      const inMemory = await LocalSession.create(g.name, g.bytes, defaultExecution);
      expected.push((await inMemory.run(feeds[i]!)).velocity!.data as Float32Array);
      await inMemory.release();
    }

    const before = new Set(readdirSync(tmpdir()));
    const sessions = new GraphSessions(0); // every graph goes to a file, as an imported generator's do
    const opened = [await sessions.open(graphs[0]!, defaultExecution), await sessions.open(graphs[1]!, defaultExecution)];
    const scratch = readdirSync(tmpdir()).filter((f) => !before.has(f) && f.startsWith("advgrpo-graphs-"));
    expect(scratch.length).toBe(1);
    const folder = join(tmpdir(), scratch[0]!);
    expect(readdirSync(folder).sort()).toEqual(["velocity-1.onnx", "velocity-2.onnx", "weights.data"]);
    // The imported weights are written once: the file holds about one graph's initialisers, not two.
    const data = statSync(join(folder, "weights.data")).size;
    expect(data).toBe(sessions.files.weightBytes);
    expect(data).toBeLessThan(initialiserBytes(graphs[0]!) * 1.1);
    expect(data).toBeGreaterThan(initialiserBytes(graphs[0]!) * 0.9);
    for (const [i, s] of opened.entries()) expect(Array.from((await s.run(feeds[i]!)).velocity!.data as Float32Array)).toEqual(Array.from(expected[i]!));
    await Promise.all(opened.map((s) => s.release()));
    sessions.release();
    expect(existsSync(folder)).toBe(false);
    // compute.shareImportedWeights: false lets ORT prepack a copy per session; the results are the same.
    const prepacking = new GraphSessions(0, true);
    const prepacked = await prepacking.open(graphs[0]!, defaultExecution);
    expect(Array.from((await prepacked.run(feeds[0]!)).velocity!.data as Float32Array)).toEqual(Array.from(expected[0]!));
    await prepacked.release();
    prepacking.release();
  });
});

describe("once every policy graph is open", () => {
  it("the weight file is sealed and the import released: sessions run as before, nothing new points into the file", async () => {
    const network = net();
    const big = compileForward("velocity-2", guidedVelocityModel({ net: network, batch: 2, cfgWeight: 4.5 }), { lora });
    const params = initParams(big.params, 1);
    const sessions = new GraphSessions(0); // the graph goes to the file, as an imported generator's do
    const opened = await sessions.open(big, defaultExecution);
    const before = (await opened.run(feedsFor(2, params, 5))).velocity!.data;
    const written = sessions.files.weightBytes;
    sessions.sealWeights();
    network.releaseWeights();
    expect(sessions.files.weightBytes).toBe(written);
    expect(Array.from((await opened.run(feedsFor(2, params, 5))).velocity!.data as Float32Array)).toEqual(Array.from(before as Float32Array));
    await expect(sessions.open(big, defaultExecution)).rejects.toThrow(/graph 'velocity-2': the shared weight file is sealed/);
    expect(() => compileForward("after", guidedVelocityModel({ net: network, batch: 1, cfgWeight: 1 }), { lora })).toThrow(/sd3_transformer\.onnx: the imported weights were released/);
    await opened.release();
    sessions.release();
  });
});

describe("a weight file shared by models", () => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-weightfile-"));
  const model = (values: Float32Array[]) =>
    ({ irVersion: 10, graph: { name: "g", initializer: values.map((v, i) => ({ name: `w${i}`, dims: [v.length], dataType: 1, rawData: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) })) } });

  it("writes a tensor once whether the same array or an equal copy comes again, and a different one after it", () => {
    const file = new WeightFile(join(dir, "weights.data"));
    const a = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i));
    const first = writeOnnxModel(model([a]), join(dir, "first.onnx"), { weights: file });
    expect(first.dataBytes).toBe(4000);
    const second = writeOnnxModel(model([a, a.slice(), b]), join(dir, "second.onnx"), { weights: file });
    expect(second.dataBytes).toBe(4000); // only b is new; a (twice) points at the first model's bytes
    expect(file.bytes).toBe(8000);
    file.close();
    expect(statSync(join(dir, "weights.data")).size).toBe(8000);
  });

  it("refuses a model outside the weight file's folder (ORT reads external data beside the model)", () => {
    const file = new WeightFile(join(dir, "w.data"));
    const elsewhere = mkdtempSync(join(tmpdir(), "advgrpo-weightfile-other-"));
    expect(() => writeOnnxModel(model([new Float32Array(512)]), join(elsewhere, "m.onnx"), { weights: file })).toThrow(/shared weight file '.*w\.data' must be in the model's folder/);
    file.close();
    rmSync(elsewhere, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
});
