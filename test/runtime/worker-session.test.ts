import { describe, expect, it } from "vitest";
import { FeedError, NonFiniteError, SessionError } from "../../src/runtime/errors.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { SessionHost, WorkerSession } from "../../src/runtime/worker-session.ts";
import { denseModel, logModel } from "./models.ts";

const crashingWorker = new URL("./fixtures/crashing-worker.ts", import.meta.url);

describe("WorkerSession", () => {
  it("runs a model in its own worker and ends the worker on release", async () => {
    const { bytes, feeds } = denseModel(1);
    const session = await WorkerSession.create("dense", bytes);
    expect(session.signature).toEqual({ inputNames: ["x", "b"], outputNames: ["h", "s"] });
    const out = await session.run(feeds, ["s"]);
    expect(Object.keys(out)).toEqual(["s"]);
    expect(out.s!.shape).toEqual([3, 8]);
    expect(out.s!.data).toBeInstanceOf(Float32Array);
    await session.release();
    await expect(session.run(feeds)).rejects.toMatchObject({ _tag: "SessionError", stage: "run", reason: "the session was released" });
  });

  it("leaves the caller's feeds usable (they are copied, not transferred)", async () => {
    const session = await WorkerSession.create("log", logModel(3));
    const x = f32([3], [1, Math.E, 1]);
    await session.run({ x });
    expect(x.data).toEqual(Float32Array.from([1, Math.E, 1]));
    await session.release();
  });

  it("brings tagged errors back as the same classes with their fields", async () => {
    const host = SessionHost.start();
    const log = await host.create("log", logModel(4));
    const missing = await log.run({}).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(FeedError);
    expect(missing).toMatchObject({ model: "log", tensor: "x", expected: "a feed" });
    const nan = await log.run({ x: f32([4], [1, 2, -1, 4]) }).catch((e: unknown) => e);
    expect(nan).toBeInstanceOf(NonFiniteError);
    expect(nan).toMatchObject({ model: "log", tensor: "y", index: 2, value: "NaN" });
    expect((nan as Error).message).toBe("model 'log' produced NaN in output 'y' at flat index 2");
    const corrupt = await host.create("garbage", new Uint8Array([1, 2, 3])).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(SessionError);
    expect(corrupt).toMatchObject({ model: "garbage", stage: "create" });
    await host.terminate();
  });

  it("hosts several sessions in one worker and answers queued runs in order", async () => {
    const host = SessionHost.start();
    const dense = denseModel(2);
    const [a, b] = await Promise.all([host.create("dense", dense.bytes), host.create("log", logModel(2))]);
    expect((await host.openSessions()).sort()).toEqual(["dense", "log"]);
    const runs = await Promise.all([a.run(dense.feeds), b.run({ x: f32([2], [1, Math.E]) }), a.run(dense.feeds)]);
    expect(runs[2]).toEqual(runs[0]);
    expect(runs[1].y!.data).toEqual(Float32Array.from([0, Math.log(Math.fround(Math.E))]));
    await b.release();
    expect(await host.openSessions()).toEqual(["dense"]);
    await host.terminate();
  });

  it.each([
    ["exit", "worker exited with code 3"],
    ["throw", "worker crashed: boom inside the worker"],
  ])("fails every pending run when the worker dies (%s)", async (model, reason) => {
    const host = SessionHost.start(crashingWorker);
    const dense = denseModel(3);
    const [doomed, bystander] = await Promise.all([host.create(model, logModel(2)), host.create("dense", dense.bytes)]);
    const results = await Promise.allSettled([doomed.run({ x: f32([2], [1, 2]) }), bystander.run(dense.feeds)]);
    for (const [result, name] of [[results[0], model], [results[1], "dense"]] as const) {
      expect(result.status).toBe("rejected");
      const error = (result as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ model: name, stage: "worker", reason });
    }
    await expect(bystander.run(dense.feeds)).rejects.toMatchObject({ stage: "worker", reason });
    await expect(bystander.release()).resolves.toBeUndefined();
  });
});
