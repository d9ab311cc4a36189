import { Effect, Layer } from "effect";
import { describe, expect, it } from "vitest";
import { FeedError, NonFiniteError, ProviderUnavailableError, SessionError } from "../../src/runtime/errors.ts";
import { defaultExecution } from "../../src/runtime/execution.ts";
import { OrtRuntime } from "../../src/runtime/ort-runtime.ts";
import { f32 } from "../../src/runtime/tensors.ts";
import { denseModel, logModel, matmulChain } from "./models.ts";

const layers = { worker: OrtRuntime.layerWorker(defaultExecution), inline: OrtRuntime.layerInline(defaultExecution) };
type Kind = keyof typeof layers;

const withRuntime = <A, E>(kind: Kind, program: Effect.Effect<A, E, OrtRuntime>, layer: Layer.Layer<OrtRuntime> = layers[kind]): Promise<A> =>
  Effect.runPromise(Effect.provide(program, layer));

/**
 * Whether the run is still in flight after one turn of the event loop. An order, not a timer count: in the
 * worker the loop turns while the run computes elsewhere (a loaded machine only widens that window), and
 * inline the run blocks the loop, so it has returned before the loop can turn.
 */
const inFlightAfterOneTurn = <A, E>(run: Effect.Effect<A, E>) =>
  Effect.promise(async () => {
    let settled = false;
    const done = Effect.runPromise(Effect.result(run)).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    const inFlight = !settled;
    await done;
    return inFlight;
  });

describe("OrtRuntime", () => {
  it("keeps the event loop live during a long run in the worker, and blocks it inline", async () => {
    // 25 chained 1024x1024 MatMuls: about 0.5 s on 2 cores.
    const bytes = matmulChain(1024, 25);
    const x = f32([1024, 1024], new Float32Array(1024 * 1024).fill(1));
    const fires = (kind: Kind) =>
      withRuntime(
        kind,
        Effect.scoped(
          Effect.gen(function* () {
            const session = yield* (yield* OrtRuntime).session("chain", bytes);
            return yield* inFlightAfterOneTurn(session.run({ x }));
          }),
        ),
      );
    expect(await fires("worker")).toBe(true);
    expect(await fires("inline")).toBe(false);
  });

  it("gives identical results in the worker and inline", async () => {
    const { bytes, feeds } = denseModel(11);
    const run = (kind: Kind) =>
      withRuntime(
        kind,
        Effect.scoped(
          Effect.gen(function* () {
            const session = yield* (yield* OrtRuntime).session("dense", bytes);
            return { signature: session.signature, out: yield* session.run(feeds) };
          }),
        ),
      );
    const [worker, inline] = [await run("worker"), await run("inline")];
    expect(worker.signature).toEqual({ inputNames: ["x", "b"], outputNames: ["h", "s"] });
    expect(worker).toEqual(inline);
  });

  it.each(["worker", "inline"] as const)("fails runs with the tagged error and its context (%s)", async (kind) => {
    const errors = await withRuntime(
      kind,
      Effect.scoped(
        Effect.gen(function* () {
          const session = yield* (yield* OrtRuntime).session("log", logModel(4));
          return {
            missing: yield* Effect.flip(session.run({ z: f32([4], [1, 1, 1, 1]) })),
            nan: yield* Effect.flip(session.run({ x: f32([4], [1, 2, -1, 4]) })),
          };
        }),
      ),
    );
    expect(errors.missing).toBeInstanceOf(FeedError);
    expect(errors.missing).toMatchObject({ model: "log", tensor: "x", found: "nothing (feeds: z)" });
    expect(errors.nan).toBeInstanceOf(NonFiniteError);
    expect(errors.nan).toMatchObject({ model: "log", tensor: "y", index: 2, value: "NaN" });
  });

  it.each(["worker", "inline"] as const)("releases sessions when their scope closes (%s)", async (kind) => {
    const { bytes, feeds } = denseModel(5);
    const { runtime, during, after, runAfterRelease } = await withRuntime(
      kind,
      Effect.gen(function* () {
        const runtime = yield* OrtRuntime;
        const { session, during } = yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* runtime.session("dense", bytes);
            return { session, during: yield* runtime.openSessions };
          }),
        );
        return { runtime, during, after: yield* runtime.openSessions, runAfterRelease: yield* Effect.flip(session.run(feeds)) };
      }),
    );
    expect(during).toEqual(["dense"]);
    expect(after).toEqual([]);
    expect(runAfterRelease).toBeInstanceOf(SessionError);
    if (kind === "worker") {
      // The layer's scope closed with the program: its worker is gone.
      const afterLayer = await Effect.runPromise(Effect.flip(runtime.openSessions));
      expect(afterLayer).toMatchObject({ _tag: "SessionError", stage: "worker", reason: "worker was terminated" });
    }
  });

  it.each(["worker", "inline"] as const)("names a missing execution provider and how to install it (%s)", async (kind) => {
    const config = { ...defaultExecution, providers: ["cuda", "cpu"] };
    const layer = kind === "worker" ? OrtRuntime.layerWorker(config) : OrtRuntime.layerInline(config);
    const error = await withRuntime(kind, Effect.scoped(Effect.flip(OrtRuntime.use((rt) => rt.session("dense", denseModel(1).bytes)))), layer);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ provider: "cuda" });
    expect((error as ProviderUnavailableError).available).toContain("cpu");
    expect((error as Error).message).toMatch(/^execution provider 'cuda' is not available in this onnxruntime-node install \(available: .*cpu.*\)\. /);
    expect((error as Error).message).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node");
  });
});
