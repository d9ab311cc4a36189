/**
 * The run's trained adapters as a file users' tools load: `lora/pytorch_lora_weights.safetensors` in the run
 * folder, in the peft/diffusers naming of src/graph/lora-io.ts (diffusers' `pipe.load_lora_weights(folder)`),
 * rewritten with every checkpoint from the EMA weights when the EMA is kept (what evaluation uses), else the
 * live ones. Written to a temporary name and renamed, so a reader never sees half a file.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LORA_WEIGHT_NAME, peftLoraFile } from "../graph/lora-io.ts";
import { encodeSafetensors } from "../io/safetensors.ts";
import type { Policy } from "./policy.ts";
import type { RunFolder } from "./run-folder.ts";

export const loraFileOf = (folder: RunFolder): string => join(folder.root, "lora", LORA_WEIGHT_NAME);

/** Writes the adapter file when the policy is an imported network with adapters; returns its path. */
export const writeLoraFile = (folder: RunFolder, policy: Policy): string | undefined => {
  if (!policy.adapters || !policy.lora) return undefined;
  const params = policy.ema?.weights ?? policy.params;
  const file = loraFileOf(folder);
  mkdirSync(join(folder.root, "lora"), { recursive: true });
  writeFileSync(`${file}.tmp`, encodeSafetensors(peftLoraFile(policy.adapters(), params, policy.lora)));
  renameSync(`${file}.tmp`, file);
  return file;
};
