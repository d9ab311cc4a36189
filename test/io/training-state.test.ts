import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTrainingState, requireMetadata, saveTrainingState } from "../../src/io/training-state.ts";
import { adamW } from "../../src/optim/adam.ts";
import { paramTensor } from "../../src/optim/param-set.ts";

describe("training state checkpoints", () => {
  it("round-trips weight sets, optimiser states and metadata", async () => {
    const params = [paramTensor("net.w", [2, 2], Float32Array.from([1, 2, 3, 4])), paramTensor("net.b", [2], Float32Array.from([5, 6]))];
    const optimizer = adamW(params, { lr: 0.1 });
    optimizer.step([paramTensor("net.w", [2, 2], Float32Array.from([1, 1, 1, 1])), paramTensor("net.b", [2], Float32Array.from([1, -1]))]);
    const file = join(await mkdtemp(join(tmpdir(), "state-")), "c.safetensors");
    const state = { weights: { generator: params, "generator.ema": [paramTensor("net.b", [2], Float32Array.from([7, 8]))] }, optimizers: { generator: optimizer.exportState() }, metadata: { epoch: "3" } };
    await saveTrainingState(file, state);
    const loaded = await loadTrainingState(file);
    expect(loaded.metadata).toEqual({ epoch: "3" });
    expect(loaded.weights.generator!.map((p) => [p.name, Array.from(p.data)])).toEqual(params.map((p) => [p.name, Array.from(p.data)]));
    expect(Array.from(loaded.weights["generator.ema"]![0]!.data)).toEqual([7, 8]);
    expect(loaded.optimizers.generator!.step).toBe(1);
    expect(loaded.optimizers.generator!.slots.map((s) => s.name).sort()).toEqual(["m/net.b", "m/net.w", "v/net.b", "v/net.w"]);
    const resumed = adamW(params, { lr: 0.1 });
    resumed.importState(loaded.optimizers.generator!);
    expect(resumed.stepCount).toBe(1);
  });

  it("names what is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "state-"));
    const file = join(dir, "c.safetensors");
    await saveTrainingState(file, { weights: { g: [paramTensor("w", [1])] }, optimizers: {}, metadata: {} });
    expect(() => requireMetadata({ weights: {}, optimizers: {}, metadata: {} }, file, "epoch")).toThrow(`checkpoint ${file}: metadata 'epoch': expected present, found missing`);
    await writeFile(join(dir, "bad.safetensors"), "garbage");
    await expect(loadTrainingState(join(dir, "bad.safetensors"))).rejects.toThrow(/bad\.safetensors/);
    await expect(saveTrainingState(file, { weights: {}, optimizers: {}, metadata: { "optimizer.x": "1" } })).rejects.toThrow(/optimizer\./);
  });
});
