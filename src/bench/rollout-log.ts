/**
 * Bytes the rollout log spends per rollout, measured by writing rows of a run's shapes through the real
 * writer (schema, dictionaries and padding included) for each storage option. Images are world renders
 * (flat colours compress well; a photograph's PNG is larger), latents and tokens are Gaussian noise
 * (incompressible, as float data is: the log applies no compression).
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePng } from "../io/png.ts";
import { encodeBatch } from "../io/rollout-log/encode.ts";
import { type LatentDtype, openRolloutLog, rolloutLogSchema, type RolloutLogMetadata } from "../io/rollout-log/index.ts";
import { batchMessages, encodeSchemaMessage, indexStream, readIndexedBatch, verifyIndexedBatch, withChecksum } from "../io/rollout-log/ipc-stream.ts";
import { measure } from "../util/measure.ts";
import type { AdvantagedRollout } from "../rollout/rollout.ts";
import { makeRng } from "../util/prng.ts";
import { ALL_PROMPTS, formatPrompt } from "../world/prompt.ts";
import { render } from "../world/render.ts";

/** What sizes a rollout row: one latent's element count, the trained steps, the backbone's tokens, the image. */
export interface LogShape {
  readonly name: string;
  readonly latent: number;
  readonly windowSteps: number;
  readonly feature: number;
  readonly patchTokens: number;
  readonly imageSize: number;
}

interface LogSize {
  readonly option: string;
  readonly bytesPerRollout: number;
}

const OPTIONS: readonly { readonly option: string; readonly latentDtype: LatentDtype; readonly storeFeatures: boolean }[] = [
  { option: "float32 latents + CLS/patch tokens", latentDtype: "float32", storeFeatures: true },
  { option: "float32 latents", latentDtype: "float32", storeFeatures: false },
  { option: "float16 latents", latentDtype: "float16", storeFeatures: false },
  { option: "no latents (default: replay samples again)", latentDtype: "none", storeFeatures: false },
];

const rowsOf = (shape: LogShape, count: number): AdvantagedRollout[] => {
  const rng = makeRng(7);
  const noise = (n: number) => rng.fillNormal(new Float32Array(n));
  return Array.from({ length: count }, (_, member) => {
    const prompt = ALL_PROMPTS[member % ALL_PROMPTS.length]!;
    const image = render(prompt, "shaded", rng, { size: shape.imageSize });
    const chain = Array.from({ length: shape.windowSteps + 1 }, () => noise(shape.latent));
    return {
      runId: "bench", epoch: 0, policyVersion: 0, prompt: formatPrompt(prompt), promptIndex: member, groupId: 0, member, seed: member,
      steps: chain.slice(1).map((xNext, j) => ({ stepIndex: j, sigma: 1 - j / 10, sigmaNext: 0.9 - j / 10, x: chain[j]!, xNext, logProb: -1 })),
      image: image.data, imageHeight: shape.imageSize, imageWidth: shape.imageSize,
      timings: { sample: 1, features: 1, rewards: 1 },
      cls: noise(shape.feature), patches: noise(shape.patchTokens * shape.feature), pooled: noise(shape.feature),
      rewards: { "adversarial-dino": 0.5 }, reward: 0.5, discLogitCls: 0.1, discLogitPatch: 0.2, advantage: 1,
    };
  });
};

/** Bytes per rollout of a log of `rows` rows in one batch, for every storage option. */
export const benchRolloutLogBytes = (shape: LogShape, rows: number): LogSize[] => {
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-bench-log-"));
  try {
    const data = rowsOf(shape, rows);
    return OPTIONS.map(({ option, latentDtype, storeFeatures }, i) => {
      const file = join(dir, `${i}.arrows`);
      const log = openRolloutLog(file, {
        runId: "bench", createdAt: "bench", pipelineConfig: "{}", rewardComponents: ["adversarial-dino"],
        tensorSizes: { latent: shape.latent, feature: shape.feature, patchTokens: storeFeatures ? shape.patchTokens : null },
        latentDtype, batchRows: rows, fsync: false,
        encodePng: (image, height, width) => encodePng({ data: image, height, width }),
      });
      log.append(data);
      log.close();
      return { option, bytesPerRollout: statSync(file).size / rows };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** What the per-batch checksum costs for one batch of `rows` rows stored the default way (no latents, no tokens). */
interface ChecksumCost {
  readonly batchBytes: number;
  /** Bytes the checksum adds to the batch (its key and value in the record batch message's metadata). */
  readonly addedBytes: number;
  /** Rows -> PNGs -> Arrow batch -> messages without a checksum: what appending a batch cost before checksums. */
  readonly appendMs: number;
  /** The checksum step alone: split the messages, CRC-32 them, re-frame the record batch message. */
  readonly checksumMs: number;
  /** Reading the batch back from the file (verified and decoded). */
  readonly readMs: number;
  /** Verifying it alone (read and CRC-32, no decoding). */
  readonly verifyMs: number;
}

export const benchBatchChecksum = async (shape: LogShape, rows: number): Promise<ChecksumCost> => {
  const data = rowsOf(shape, rows);
  const metadata: RolloutLogMetadata = {
    runId: "bench", createdAt: "bench", pipelineConfig: "{}", rewardComponents: ["adversarial-dino"],
    tensorSizes: { latent: shape.latent, feature: shape.feature, patchTokens: null }, latentDtype: "none",
  };
  const schema = rolloutLogSchema(metadata);
  const schemaMessage = encodeSchemaMessage(schema);
  const pngs = () => data.map((r) => encodePng({ data: r.image, height: r.imageHeight, width: r.imageWidth }));
  const plain = batchMessages(schemaMessage, encodeBatch(schema, metadata, data, pngs()));
  const checked = withChecksum(plain);
  const append = await measure(() => batchMessages(schemaMessage, encodeBatch(schema, metadata, data, pngs())), 20);
  const checksum = await measure(() => withChecksum(plain), 20);
  const dir = mkdtempSync(join(tmpdir(), "advgrpo-bench-checksum-"));
  try {
    const file = join(dir, "log.arrows");
    const log = openRolloutLog(file, { ...metadata, encodePng: (image, height, width) => encodePng({ data: image, height, width }), batchRows: rows, fsync: false });
    log.append(data);
    log.close();
    const fd = openSync(file, "r");
    try {
      const index = indexStream(file, fd);
      const read = await measure(() => readIndexedBatch(fd, index, 0), 20);
      const verify = await measure(() => verifyIndexedBatch(fd, index, 0), 20);
      return { batchBytes: checked.length, addedBytes: checked.length - plain.length, appendMs: append.medianMs, checksumMs: checksum.medianMs, readMs: read.medianMs, verifyMs: verify.medianMs };
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
