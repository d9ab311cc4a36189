/**
 * `rewards[i].checkpoint` of a frozen-discriminator reward: the trained head it scores with. Accepts a run
 * checkpoint (its `discriminator` weight set, the head a run trained adversarially) or a file of the head's
 * bare parameters; anything else, a missing file or a head of another shape fails naming the field.
 */
import { existsSync } from "node:fs";
import { Effect } from "effect";
import { readSafetensors, toParamSet } from "../io/safetensors.ts";
import type { Discriminator } from "../models/discriminator/discriminator.ts";
import { copyParamsInto, type ParamSet } from "../optim/param-set.ts";
import { ConfiguredFileError } from "./configured-files.ts";

const RUN_CHECKPOINT_SET = "discriminator/";

export const loadFrozenHead = async (file: string, field: string, head: Discriminator): Promise<void> => {
  if (!existsSync(file)) {
    const reason = `the frozen discriminator's checkpoint ${file} does not exist; train a head first (a run's checkpoints/epoch-*.safetensors holds one) or remove ${field} to train it during discriminator.warmupEpochs`;
    throw new ConfiguredFileError({ field, reason });
  }
  const tensors = toParamSet(await Effect.runPromise(readSafetensors(file)), file);
  const fromRun = tensors.filter((t) => t.name.startsWith(RUN_CHECKPOINT_SET));
  const params: ParamSet = fromRun.length > 0 ? fromRun.map((t) => ({ ...t, name: t.name.slice(RUN_CHECKPOINT_SET.length) })) : tensors;
  copyParamsInto(head.params, params, `${field} (${file})`);
};
