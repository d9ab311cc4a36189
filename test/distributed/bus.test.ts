/** The JetStream building blocks against a real nats-server: task queue, scored groups, weights, errors. */
import { RecordBatchReader } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBus, type RunBus } from "../../src/distributed/bus.ts";
import { NatsUnreachable, WeightsMissing } from "../../src/distributed/errors.ts";
import { EpochResults, publishGroup } from "../../src/distributed/results.ts";
import { decodeGroup, encodeGroup, type WireMetadata } from "../../src/distributed/rollout-wire.ts";
import { parseTask, publishTask, type GroupTask } from "../../src/distributed/tasks.ts";
import { fetchWeights, publishWeights, snapshotVersion } from "../../src/distributed/weights.ts";
import type { ScoredRollout } from "../../src/rollout/rollout.ts";
import { makeRng } from "../../src/util/prng.ts";
import { startNatsServer, type NatsServer } from "../../src/distributed/local-server.ts";

const SIZES = { latent: 12, feature: 4, patchTokens: 3 };
const metadata: WireMetadata = { runId: "bus-test", createdAt: "t0", pipelineConfig: "{}", rewardComponents: ["adversarial-dino"], tensorSizes: SIZES, latentDtype: "float32" };

const group = (epoch: number, groupId: number, size = 2, seedBase = 0): ScoredRollout[] => {
  const rng = makeRng(epoch * 1000 + groupId + seedBase);
  const t = (n: number) => rng.fillNormal(new Float32Array(n));
  return Array.from({ length: size }, (_, member) => ({
    runId: metadata.runId, epoch, policyVersion: 3, prompt: "a red circle", promptIndex: 5, groupId, member, seed: 100 + member,
    steps: [{ stepIndex: 2, sigma: 0.7, sigmaNext: 0.6, x: t(SIZES.latent), xNext: t(SIZES.latent), logProb: rng.normal() }],
    // Pixels on the 8-bit grid, as decoded images are, so the PNG round trip is exact.
    image: Float32Array.from({ length: 3 * 2 * 2 }, () => rng.int(256) / 255), imageHeight: 2, imageWidth: 2,
    timings: { sample: 1.5 }, cls: t(4), patches: t(12), pooled: t(4),
    rewards: { "adversarial-dino": rng.normal() }, reward: rng.normal(), discLogitCls: rng.normal(), discLogitPatch: rng.normal(),
  }));
};

const task = (epoch: number, groupId: number, attempt = 0): GroupTask => ({
  configHash: "h1", instance: "i1", epoch, groupId, attempt, weights: "w0",
  keys: [{ runId: metadata.runId, epoch, policyVersion: 0, prompt: "p", promptIndex: 0, groupId, member: 0, seed: 1 }],
});

let server: NatsServer;
let bus: RunBus;
beforeAll(async () => {
  server = await startNatsServer();
  bus = await openBus({ url: server.url, runName: "bus test/1", ackDeadlineMs: 1000, outageTimeoutMs: 5000 });
});
afterAll(async () => {
  await bus?.close();
  await server?.stop();
});

describe("rollout wire format", () => {
  it("round-trips a scored group through Arrow IPC exactly", () => {
    const rows = group(1, 4);
    expect(decodeGroup("m", encodeGroup(metadata, rows), metadata)).toEqual(rows);
  });

  it("names the message when bytes are corrupted or the layout differs", () => {
    const bytes = encodeGroup(metadata, group(1, 4));
    const cut = bytes.slice(0, bytes.length - 200);
    expect(() => decodeGroup("message 9", cut, metadata)).toThrow(/message 9/);
    const garbage = bytes.slice();
    garbage.fill(7, 0, 64);
    expect(() => decodeGroup("message 9", garbage, metadata)).toThrow(/message 9: not an Arrow IPC stream/);
    expect(() => decodeGroup("message 9", bytes, { ...metadata, rewardComponents: ["ocr"] })).toThrow(/rewardComponents/);
  });

  it("refuses a group with a float changed on the way by the batch's CRC-32, which plain Arrow decoding would read as another value", () => {
    const rows = group(1, 4);
    const bytes = encodeGroup(metadata, rows);
    const reward = new Uint8Array(Float64Array.of(rows[0]!.reward).buffer);
    const at = Buffer.from(bytes).indexOf(reward);
    expect(at).toBeGreaterThan(0);
    const flipped = bytes.slice();
    flipped[at] ^= 1; // the lowest mantissa bit: still a finite float
    const [batch] = RecordBatchReader.from(flipped).readAll();
    expect(batch!.getChild("reward")!.get(0)).not.toBe(rows[0]!.reward);
    expect(Number.isFinite(batch!.getChild("reward")!.get(0))).toBe(true);
    expect(() => decodeGroup("rollout message advgrpo.bus.rollouts.1.4", flipped, metadata)).toThrow(
      /^rollout message advgrpo\.bus\.rollouts\.1\.4: damaged: CRC-32 [0-9a-f]{8} differs from the [0-9a-f]{8} written with it$/,
    );
  });

  it("carries each rollout's final latent when the learner trains on it (nft/awm through a VAE), and refuses a mismatch", () => {
    const withClean: WireMetadata = { ...metadata, cleanLatents: true };
    const rng = makeRng(9);
    const rows = group(1, 5).map((r) => ({ ...r, steps: [], clean: rng.fillNormal(new Float32Array(SIZES.latent)) }));
    expect(decodeGroup("m", encodeGroup(withClean, rows), withClean)).toEqual(rows);
    expect(() => decodeGroup("message 3", encodeGroup(withClean, rows), metadata)).toThrow(/message 3: cleanLatents true, expected false/);
  });
});

describe("task queue", () => {
  it("redelivers a task nobody acknowledges after the ack deadline, and drops a re-issue of the same attempt", async () => {
    await publishTask(bus, task(0, 0));
    await publishTask(bus, task(0, 0)); // same (epoch, group, attempt): deduplicated by the stream
    const consumer = await bus.js.consumers.get(bus.names.taskStream, bus.names.taskConsumer);
    const first = await consumer.next({ expires: 2000 });
    expect(parseTask(first!.subject, first!.data)).toEqual(task(0, 0));
    expect(first!.info.deliveryCount).toBe(1);
    // Not acknowledged (the worker "died"): the same task comes back once the deadline passes.
    const again = await consumer.next({ expires: 5000 });
    expect(again!.seq).toBe(first!.seq);
    expect(again!.info.deliveryCount).toBe(2);
    again!.ack();
    await again!.ackAck();
    expect(await consumer.next({ expires: 1500 })).toBeNull();
  });

  it("rejects a task that is not one", () => {
    expect(() => parseTask("s", new TextEncoder().encode('{"epoch":1}'))).toThrow(/task on s/);
  });
});

describe("scored groups", () => {
  it("accepts each group once, refuses foreign and unreadable ones, and carries large groups through the object store", async () => {
    const refused: string[] = [];
    const results = await EpochResults.open(bus, {
      epoch: 7, configHash: "h1", metadata, onRefused: (_g, reason) => refused.push(reason), check: () => undefined,
    });
    await publishGroup(bus, task(7, 0), metadata, group(7, 0));
    await publishGroup(bus, { ...task(7, 0), attempt: 1 }, metadata, group(7, 0)); // a redelivered duplicate
    await publishGroup(bus, { ...task(7, 1), configHash: "other" }, metadata, group(7, 1));
    await bus.js.publish(`${bus.names.rolloutSubject}.7.2`, new Uint8Array([1, 2, 3]));
    const big = group(7, 3, 40, 1); // 40 rows with PNGs and tokens exceed a small inline limit
    await publishGroup({ ...bus, maxPayload: 20_000 }, task(7, 3), metadata, big);
    expect(await results.group(0)).toEqual(group(7, 0));
    expect(await results.group(3)).toEqual(big);
    // Refusals arrive asynchronously: wait for them to be counted (no fixed sleep, which a loaded machine outlasts).
    await expect.poll(() => refused.length + results.duplicates, { timeout: 120_000, interval: 20 }).toBe(3);
    expect(results.duplicates).toBe(1);
    expect(results.has(1)).toBe(false);
    expect(results.has(2)).toBe(false);
    expect(refused.join("\n")).toMatch(/rollouts\.7\.1 .*pipeline other/);
    expect(refused.join("\n")).toMatch(/rollouts\.7\.2 .*pipeline \(none\)/);
    await results.close();
  });
});

describe("weights", () => {
  it("stores snapshots by name and the newest in the KV bucket", async () => {
    const sets = { generator: [{ name: "w", shape: [2], data: Float32Array.of(1, 2) }], discriminator: [{ name: "b", shape: [1], data: Float32Array.of(3) }] };
    await publishWeights(bus, "weights/epoch-0", sets, 7);
    expect(await snapshotVersion(bus, "weights/epoch-0")).toBe(7);
    expect(await snapshotVersion(bus, "weights/nope")).toBeUndefined();
    expect((await bus.kv.get("weights.latest"))?.string()).toBe("weights/epoch-0");
    expect(await fetchWeights(bus, "weights/epoch-0")).toEqual(sets);
    await expect(fetchWeights(bus, "weights/nope")).rejects.toBeInstanceOf(WeightsMissing);
  });
});

describe("connection", () => {
  it("names the URL when no server listens there", async () => {
    const url = `nats://127.0.0.1:${server.port + 1}`;
    const error = await openBus({ url, runName: "x", ackDeadlineMs: 1000, outageTimeoutMs: 5000 }).catch((e) => e);
    expect(error).toBeInstanceOf(NatsUnreachable);
    expect(error.message).toContain(url);
  });
});
