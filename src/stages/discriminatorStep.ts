/**
 * epochs      --b--------------------c---|
 * references    [refs of b's prompts]
 * step                       [step refs vs b]
 * reports     ---------------------d------...   one full-batch step per epoch
 */
import { concatMap, map, type OperatorFunction } from "rxjs";
import type { DiscriminatorPort, ReferencePort } from "./ports.ts";
import { portResult } from "./portResult.ts";
import type { AdvantagedEpoch, DiscriminatorStepReport } from "./types.ts";

export function discriminatorStep(
  discriminator: DiscriminatorPort,
  references: ReferencePort,
): OperatorFunction<AdvantagedEpoch, DiscriminatorStepReport> {
  return concatMap((batch) => {
    const generated = batch.groups.flat();
    const promptIndices = [...new Set(generated.map((row) => row.promptIndex))];
    return references.forPrompts(promptIndices).pipe(
      portResult("discriminatorStep.references"),
      concatMap((refs) => discriminator.step({ epoch: batch.epoch, references: refs, generated })),
      portResult("discriminatorStep"),
      map((stats): DiscriminatorStepReport => ({ kind: "discriminator", epoch: batch.epoch, stats })),
    );
  });
}
