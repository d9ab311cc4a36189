/** Runs a freshly built graph once and returns its outputs as plain numbers. */
import type { Graph } from "../../src/graph/graph.ts";
import { toOnnx } from "../../src/graph/serialize.ts";
import { LocalSession } from "../../src/runtime/local-session.ts";
import type { Feeds } from "../../src/runtime/tensors.ts";

export const runGraph = async (g: Graph, feeds: Feeds, fetch?: readonly string[]): Promise<Record<string, Float32Array | Float64Array>> => {
  const session = await LocalSession.create(g.name, toOnnx(g));
  try {
    const out = await session.run(feeds, fetch ?? session.signature.outputNames);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array | Float64Array]));
  } finally {
    await session.release();
  }
};
