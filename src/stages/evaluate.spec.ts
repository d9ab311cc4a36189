import { describe, expect, it } from "vitest";
import { evaluate } from "./evaluate.ts";
import { marbleScheduler } from "../../test/stages/testing.ts";

describe("evaluate", () => {
  it("appends an evaluation after a due epoch's stream completes, and nothing otherwise", () => {
    const evaluated: number[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const evaluator = {
        evaluate: (epoch: number) => {
          evaluated.push(epoch);
          return cold("--(m|)", { m: { similarity: 0.6 } });
        },
      };
      const training = cold("-x-y|");
      const values = { x: "x", y: "y", r: { kind: "evaluation", epoch: 5, metrics: { similarity: 0.6 } } };
      expectObservable(training.pipe(evaluate(evaluator, { every: 3, epoch: 5 }))).toBe("-x-y--(r|)", values);
      expectObservable(training.pipe(evaluate(evaluator, { every: 3, epoch: 4 }))).toBe("-x-y|", values);
    });
    expect(evaluated).toEqual([5]);
  });

  it("does not evaluate an epoch whose training failed", () => {
    const evaluated: number[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const evaluator = { evaluate: (epoch: number) => (evaluated.push(epoch), cold("-(m|)", { m: {} })) };
      expectObservable(cold("-x#").pipe(evaluate(evaluator, { every: 1, epoch: 0 }))).toBe("-x#");
    });
    expect(evaluated).toEqual([]);
  });
});
