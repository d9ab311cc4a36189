import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { ProviderUnavailableError } from "./errors.ts";

/** How sessions execute; the GPU path is this configuration, not a code fork. */
export interface ExecutionConfig {
  /** Execution providers in priority order, e.g. ["cuda", "cpu"]. */
  readonly providers: readonly string[];
  /** Threads inside one op (ORT intra-op pool). */
  readonly intraOpThreads: number;
  /**
   * Spinning threads burn a core while idle; on 2 cores with spinning on, 2 threads gave nothing over 1
   * (platform-notes), so it is off by default.
   */
  readonly spinning: boolean;
  /**
   * ORT graph optimisation level; default "basic". The extended fusions rewrite a forward-only graph and the
   * same forward inside a training graph differently (last-bit differences in the DiT's velocity), which would
   * break the on-policy check; "basic" keeps them identical and measured no slower on the default sizes.
   */
  readonly graphOptimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Let CPU kernels repack constant weights into their own layout at load (default true). Each session then
   * holds a packed copy; off, MatMul reads the initialiser where it lies, which for weights in an external-data
   * file is ORT's read-only mapping of it, shared by every session on that file (train/open-graph.ts).
   */
  readonly prepackWeights?: boolean;
  /** ORT optimisers (transformers or rules, by their ORT names) left out at the chosen level. */
  readonly disabledOptimizers?: readonly string[];
}

export const defaultExecution: ExecutionConfig = { providers: ["cpu"], intraOpThreads: 2, spinning: false };

const installHints: Readonly<Record<string, string>> = {
  cuda: "The CUDA provider is downloaded by onnxruntime-node's install script on linux-x64: on a machine with internet and CUDA 12, run `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (or `npm ci --onnxruntime-node-install=cuda12`).",
  tensorrt: "TensorRT comes with the CUDA download: `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` on a machine with internet, CUDA 12 and TensorRT 10 libraries.",
  webgpu: "The WebGPU provider needs a Vulkan-capable GPU and driver.",
};

/** Providers the install script downloads next to the binding; `bundled` is false for them even once installed. */
const downloadedProviderLibraries: Readonly<Record<string, string>> = {
  cuda: "libonnxruntime_providers_cuda.so",
  tensorrt: "libonnxruntime_providers_tensorrt.so",
};

const bindingDirectory = (): string => {
  const packageRoot = dirname(dirname(createRequire(import.meta.url).resolve("onnxruntime-node")));
  return join(packageRoot, "bin", "napi-v6", process.platform, process.arch);
};

export const availableProviders = (): string[] =>
  ort
    .listSupportedBackends()
    .filter((b) => b.bundled || (downloadedProviderLibraries[b.name] && existsSync(join(bindingDirectory(), downloadedProviderLibraries[b.name]!))))
    .map((b) => b.name);

/** Checks every requested provider against what this onnxruntime-node build ships, failing on the first missing one. */
export const resolveProviders = (requested: readonly string[]): string[] => {
  const backends = ort.listSupportedBackends();
  const available = availableProviders();
  for (const provider of requested) {
    if (!available.includes(provider)) {
      throw new ProviderUnavailableError({
        provider,
        available,
        howToInstall: installHints[provider] ?? `Known providers: ${backends.map((b) => b.name).join(", ")}.`,
      });
    }
  }
  return [...requested];
};

export const sessionOptions = (config: ExecutionConfig): ort.InferenceSession.SessionOptions => ({
  executionProviders: resolveProviders(config.providers),
  intraOpNumThreads: config.intraOpThreads,
  interOpNumThreads: 1,
  graphOptimizationLevel: config.graphOptimization ?? "basic",
  extra: {
    session: { intra_op: { allow_spinning: config.spinning ? "1" : "0" }, ...(config.prepackWeights === false ? { disable_prepacking: "1" } : {}) },
    ...(config.disabledOptimizers?.length ? { optimization: { disable_specified_optimizers: config.disabledOptimizers.join(";") } } : {}),
  },
});
