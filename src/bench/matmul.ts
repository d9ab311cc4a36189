import { Graph } from "../graph/graph.ts";
import { matmul } from "../graph/ops.ts";
import { toOnnx } from "../graph/serialize.ts";
import { type ExecutionConfig, defaultExecution } from "../runtime/execution.ts";
import { LocalSession } from "../runtime/local-session.ts";
import { f32 } from "../runtime/tensors.ts";
import { gflops, measure } from "../util/measure.ts";

interface MatMulBench {
  readonly n: number;
  /** Median over the timed runs. */
  readonly ms: number;
  readonly gflops: number;
}

interface MatMulBenchOptions {
  readonly warmup?: number;
  readonly runs?: number;
  readonly config?: ExecutionConfig;
}

/**
 * An n x n by n x n MatMul session: the achievable float32 throughput of this machine through ORT, the
 * baseline the engine's own graphs are measured against. Both operands are inputs so that nothing can be
 * constant-folded. `run` times one product in milliseconds.
 */
export const openMatMul = async (n: number, config: ExecutionConfig = defaultExecution) => {
  const g = new Graph("bench-matmul");
  g.output(matmul(g.input("a", "float32", [n, n]), g.input("b", "float32", [n, n])), "c");
  const session = await LocalSession.create(`matmul ${n}x${n}`, toOnnx(g), config);
  // Operand values do not change the work; a fixed pattern keeps the result finite.
  const operand = f32([n, n], Float32Array.from({ length: n * n }, (_, i) => ((i % 7) - 3) / n));
  const feeds = { a: operand, b: operand };
  return {
    flops: 2 * n ** 3,
    run: () => session.run(feeds, ["c"], false),
    release: () => session.release(),
  };
};

export const benchMatMul = async (n: number, options: MatMulBenchOptions = {}): Promise<MatMulBench> => {
  const { warmup = 3, runs = 10, config = defaultExecution } = options;
  const product = await openMatMul(n, config);
  try {
    const { medianMs: ms } = await measure(product.run, runs, warmup);
    return { n, ms, gflops: gflops(product.flops, ms) };
  } finally {
    await product.release();
  }
};
