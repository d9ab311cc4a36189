import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
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

describe("sessions on graphs past protobuf's limit", () => {
  it("a policy graph written with external data computes bit-identically to the in-memory one", async () => {
    const net = onnxNetwork(loadOnnx("test/fixtures/onnx/sd3_transformer.onnx"), { latentShape: [16, 8, 8], text: { pooledWidth: 20, tokenShape: [8, 24] }, timestepScale: 1000 });
    const compiled = compileForward("velocity", guidedVelocityModel({ net, batch: 2, cfgWeight: 4.5 }), { lora: { rank: 2, alpha: 4, targets: ["to_q"] } });
    expect(initialiserBytes(compiled)).toBeGreaterThan(100_000);
    const rng = makeRng(3);
    const params = initParams(compiled.params, 1).map((p) => ({ ...p, data: p.data.map(() => 0.1 * rng.normal()) }));
    const feeds = {
      ...paramFeeds(params),
      [POLICY_INPUTS.latents]: f32([2, 16, 8, 8], rng.fillNormal(new Float32Array(2 * 16 * 64))),
      [POLICY_INPUTS.sigma]: f32([2], [0.3, 0.8]),
      [POLICY_INPUTS.pooled]: f32([2, 20], rng.fillNormal(new Float32Array(40))),
      [POLICY_INPUTS.pooledUncond]: f32([2, 20], rng.fillNormal(new Float32Array(40))),
      [POLICY_INPUTS.tokens]: f32([2, 8, 24], rng.fillNormal(new Float32Array(2 * 8 * 24))),
      [POLICY_INPUTS.tokensUncond]: f32([2, 8, 24], rng.fillNormal(new Float32Array(2 * 8 * 24))),
    };
    const inMemory = await LocalSession.create("velocity", compiled.bytes, defaultExecution);
    const expected = (await inMemory.run(feeds)).velocity!.data as Float32Array;
    await inMemory.release();

    const before = new Set(readdirSync(tmpdir()));
    const sessions = new GraphSessions(0); // every graph goes to a file, as one over 1.8 GB would
    const fromFile = await sessions.open(compiled, defaultExecution);
    const scratch = readdirSync(tmpdir()).filter((f) => !before.has(f) && f.startsWith("advgrpo-graphs-"));
    expect(scratch.length).toBe(1);
    expect(readdirSync(`${tmpdir()}/${scratch[0]}`).sort()).toEqual(["velocity.onnx", "velocity.onnx.data"]);
    const actual = (await fromFile.run(feeds)).velocity!.data as Float32Array;
    expect(Array.from(actual)).toEqual(Array.from(expected));
    await fromFile.release();
    sessions.release();
    expect(existsSync(`${tmpdir()}/${scratch[0]}`)).toBe(false);
  });
});
