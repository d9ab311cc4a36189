import { describe, expect, it } from "vitest";
import { Graph } from "../../src/graph/graph.ts";
import { estimateMemory } from "../../src/graph/memory.ts";
import { add, exp, relu, sumAll } from "../../src/graph/ops.ts";

describe("peak activation memory from the graph's tensor sizes", () => {
  it("holds a value from its producer to its last reader and outputs to the end", () => {
    const g = new Graph("m");
    const x = g.input("x", "float32", [10]);
    const w = g.constant(new Float32Array(10), "float32", [10], "w");
    const a = relu(add(x, w)); // add's 40 bytes freed once relu has read them
    const b = exp(a);
    const c = add(a, b); // a, b and c live together: 120 bytes, the peak
    g.output(sumAll(c), "s");
    const m = estimateMemory(g);
    expect(m.peakActivationBytes).toBe(120);
    expect(m.weightBytes).toBe(40);
    expect(m.inputBytes).toBe(40);
    expect(m.peakNode).toBe(g.nodes[3]!.name);
  });
});
