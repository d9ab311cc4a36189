import { describe, expect, it } from "vitest";
import { gradients } from "../../src/autodiff/gradients.ts";
import { stopGradient } from "../../src/autodiff/stop-gradient.ts";
import { Graph } from "../../src/graph/graph.ts";
import { mul, sumAll } from "../../src/graph/ops.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import { hostTensor } from "../../src/runtime/tensors.ts";

describe("stopGradient", () => {
  it("passes the value forward and blocks the gradient: d/dx sum(stop(x) * x) = x, not 2x", async () => {
    const g = new Graph("stop");
    const x = g.input("x", "float64", [3]);
    const held = stopGradient(x);
    const loss = g.output(sumAll(mul(held, x)), "loss");
    g.output(gradients(loss, [x])[0]!, "dx");
    g.output(mul(held, 1), "held");
    const session = await LocalSession.create("stop", toOnnx(g));
    const out = await session.run({ x: hostTensor("float64", [3], Float64Array.from([1, -2, 0.5])) });
    expect(Array.from(out.dx!.data as Float64Array)).toEqual([1, -2, 0.5]);
    expect(Array.from(out.held!.data as Float64Array)).toEqual([1, -2, 0.5]);
    expect(Number(out.loss!.data[0])).toBeCloseTo(1 + 4 + 0.25, 12);
  });
});
