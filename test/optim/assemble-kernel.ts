/**
 * Assembles src/optim/kernels/update.wat into update-wasm.ts beside it (the bytes the optimiser
 * instantiates), so the kernel's source of truth stays readable text and the product needs no assembler
 * at run time (wabt is a devDependency).
 *   npx node test/optim/assemble-kernel.ts
 * test/optim/adam-kernel.test.ts fails when update-wasm.ts is not what this produces.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import initWabt from "wabt";

const source = new URL("../../src/optim/kernels/update.wat", import.meta.url);
const target = new URL("../../src/optim/kernels/update-wasm.ts", import.meta.url);

export const assembleUpdateKernel = async (): Promise<string> => {
  const wabt = await initWabt();
  // threads: the arena memory is shared with the optimiser's helper thread.
  const features = { simd: true, threads: true };
  const module = wabt.parseWat("update.wat", readFileSync(source, "utf8"), features);
  try {
    // wabt's typings omit validate's features argument; without it, validation rejects the shared memory.
    (module as unknown as { validate(features: object): void }).validate(features);
    const base64 = Buffer.from(module.toBinary({}).buffer).toString("base64");
    return `// Generated from update.wat by test/optim/assemble-kernel.ts: do not edit.\nexport const updateKernelBase64 =\n  "${base64}";\n`;
  } finally {
    module.destroy();
  }
};

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(target, await assembleUpdateKernel());
