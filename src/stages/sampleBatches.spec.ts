import { defer, finalize, type Observable, throwError } from "rxjs";
import { describe, expect, it } from "vitest";
import type { RolloutKey, SampledRollout } from "../rollout/rollout.ts";
import { PortContractError } from "./errors.ts";
import type { SamplerPort } from "./ports.ts";
import { sampleBatches } from "./sampleBatches.ts";
import { fakeKey, fakeSampled, marbleScheduler } from "../../test/stages/testing.ts";
import { failedMember } from "./types.ts";

const keys = { a: fakeKey(0, 0), b: fakeKey(0, 1), c: fakeKey(1, 0), d: fakeKey(1, 1), e: fakeKey(2, 0), f: fakeKey(2, 1) };
const rows = { A: fakeSampled(keys.a), B: fakeSampled(keys.b), C: fakeSampled(keys.c), D: fakeSampled(keys.d), E: fakeSampled(keys.e), F: fakeSampled(keys.f) };
const oom = new Error("out of memory");

type Reply = (keys: readonly RolloutKey[]) => Observable<readonly SampledRollout[]>;
const sampler = (reply: Reply): SamplerPort => ({ sample: reply });

describe("sampleBatches", () => {
  it("calls the sampler with batches of batchSize, the last one partial when the input completes", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const calls: RolloutKey[][] = [];
      const port = sampler((batch) => {
        calls.push([...batch]);
        return cold("---(r|)", { r: batch.map(fakeSampled) });
      });
      const input = cold("-a-b-c-d-e-|", keys);
      expectObservable(input.pipe(sampleBatches(port, { batchSize: 2, concurrency: 1 }))).toBe("------(AB)(CD)(E|)", rows);
    });
  });

  it("concurrency 1 keeps batch order; concurrency 2 emits in completion order", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const slowFirst = sampler((batch) => cold(batch[0] === keys.a ? "------(r|)" : "-(r|)", { r: batch.map(fakeSampled) }));
      const input = cold("(ab|)", keys);
      expectObservable(input.pipe(sampleBatches(slowFirst, { batchSize: 1, concurrency: 1 }))).toBe("------A(B|)", rows);
      expectObservable(input.pipe(sampleBatches(slowFirst, { batchSize: 1, concurrency: 2 }))).toBe("-B----(A|)", rows);
    });
  });

  it("never has more than `concurrency` sampler calls in flight", () => {
    let active = 0;
    let maxActive = 0;
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = sampler((batch) =>
        defer(() => {
          maxActive = Math.max(maxActive, ++active);
          return cold("----(r|)", { r: batch.map(fakeSampled) });
        }).pipe(finalize(() => active--)),
      );
      const input = cold("(abcdef|)", keys);
      expectObservable(input.pipe(sampleBatches(port, { batchSize: 1, concurrency: 2 }))).toBe("----(AB)(CD)(EF|)", rows);
    });
    expect(maxActive).toBe(2);
  });

  it("turns a failed call into failed members of its keys and keeps going", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = sampler((batch) => (batch[0] === keys.a ? throwError(() => oom) : cold("--(r|)", { r: batch.map(fakeSampled) })));
      const input = cold("-a-b-c-d-----|", keys);
      const failed = { X: failedMember(keys.a, "sampleBatches", oom), Y: failedMember(keys.b, "sampleBatches", oom), ...rows };
      expectObservable(input.pipe(sampleBatches(port, { batchSize: 2, concurrency: 2 }))).toBe("---(XY)--(CD)|", failed);
    });
  });

  it("fails on a broken contract and unsubscribes the input and the calls in flight", () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const slow = cold("----------(r|)", { r: [rows.A] });
      const port = sampler((batch) => (batch[0] === keys.a ? slow : cold("-(r|)", { r: [] })));
      const input = cold("-a-b-----|", keys);
      const error = new PortContractError({ stage: "sampleBatches", expected: "one result per row (1)", found: "0 results" });
      expectObservable(input.pipe(sampleBatches(port, { batchSize: 1, concurrency: 2 }))).toBe("----#", undefined, error);
      expectSubscriptions(input.subscriptions).toBe("^---!");
      expectSubscriptions(slow.subscriptions).toBe("-^--!");
    });
  });

  it("fails when the sampler answers for another key than it was asked", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = sampler(() => cold("-(r|)", { r: [rows.B] }));
      const error = new PortContractError({
        stage: "sampleBatches",
        expected: "group 0 member 0 seed 0",
        found: "group 0 member 1 seed 1",
      });
      expectObservable(cold("a|", keys).pipe(sampleBatches(port, { batchSize: 1, concurrency: 1 }))).toBe("-#", undefined, error);
    });
  });

  it("fails when the sampler completes without a result", () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const port = sampler(() => cold("--|"));
      const error = new PortContractError({ stage: "sampleBatches", expected: "one result", found: "no result" });
      expectObservable(cold("a|", keys).pipe(sampleBatches(port, { batchSize: 1, concurrency: 1 }))).toBe("--#", undefined, error);
    });
  });
});
