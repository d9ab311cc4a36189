/** One decoded RecordBatch -> recorded rollout rows (the inverse of encode.ts). */
import type { Binary, Data, Dictionary, FixedSizeList, Float16, Float32, Float64, Int32, Int64, List, Map_, RecordBatch, Struct, Utf8 } from "apache-arrow";
import type { AdvantagedRollout, TrajectoryStep } from "../../rollout/rollout.ts";
import {
  readBinary,
  readDictionary,
  readInt64,
  readListRange,
  readMap,
  readNumber,
  readTensor,
} from "./columns.ts";
import { RolloutLogNotArrow } from "./errors.ts";
import { rewardColumn } from "./schema.ts";
import type { RolloutLogMetadata } from "./schema.ts";

/**
 * A rollout as recorded: the image is kept as the PNG bytes that were written (decoding is the image codec's
 * job), and cls/patches are present only in logs written with token recording on.
 */
export interface RecordedRollout extends Omit<AdvantagedRollout, "image" | "cls" | "patches"> {
  readonly png: Uint8Array;
  readonly cls?: Float32Array;
  readonly patches?: Float32Array;
}

/** The column `name` of `batch` as its (single) Data chunk. */
const columnOf = <T extends Data>(batch: RecordBatch, name: string) => batch.getChild(name)!.data[0] as unknown as T;

/**
 * A reader of each row's trained steps. Step j of a row goes from its chain's latent j to latent j+1, so
 * neighbouring steps share that array.
 */
function stepsReader(file: string, batch: RecordBatch, metadata: RolloutLogMetadata): (row: number) => TrajectoryStep[] {
  const steps = columnOf<Data<List<Struct>>>(batch, "steps");
  const [stepIndex, sigma, sigmaNext, logProb] = steps.children[0]!.children as [Data<Int32>, Data<Float64>, Data<Float64>, Data<Float64>];
  const latents = metadata.latentDtype === "none" ? undefined : columnOf<Data<List<FixedSizeList<Float32 | Float16>>>>(batch, "latents");
  const chainItems = latents?.children[0] as Data<FixedSizeList<Float32 | Float16>> | undefined;
  const unrecorded = new Float32Array(0);
  return (row) => {
    const [start, end] = readListRange(steps, row);
    // Without recorded latents a step's x and xNext are empty: replay samples them again (record.latentDtype: none).
    const [chainStart, chainEnd] = latents === undefined ? [0, end === start ? 0 : end - start + 1] : readListRange(latents, row);
    const expected = end === start ? 0 : end - start + 1;
    if (chainEnd - chainStart !== expected) {
      const reason = `a row's 'latents' holds ${chainEnd - chainStart} latents for its ${end - start} steps (expected ${expected}: one chain, steps + 1)`;
      throw new RolloutLogNotArrow({ file, reason });
    }
    const chain = Array.from({ length: chainEnd - chainStart }, (_, j) => (chainItems === undefined ? unrecorded : readTensor(chainItems, chainStart + j)));
    const out: TrajectoryStep[] = [];
    for (let s = start; s < end; s++) {
      out.push({
        stepIndex: readNumber(stepIndex, s),
        sigma: readNumber(sigma, s),
        sigmaNext: readNumber(sigmaNext, s),
        x: chain[s - start]!,
        xNext: chain[s - start + 1]!,
        logProb: readNumber(logProb, s),
      });
    }
    return out;
  };
}

/** Rows `indices` of `batch` (whose columns were checked against the metadata's schema). */
export function decodeBatch(
  file: string,
  batch: RecordBatch,
  metadata: RolloutLogMetadata,
  indices: Iterable<number>,
): RecordedRollout[] {
  const column = <T extends Data>(name: string) => columnOf<T>(batch, name);
  const int32 = (name: string) => column<Data<Int32>>(name);
  const float64 = (name: string) => column<Data<Float64>>(name);
  const tensor = (name: string) => column<Data<FixedSizeList<Float32>>>(name);

  const runId = column<Data<Dictionary<Utf8, Int32>>>("runId");
  const prompt = column<Data<Dictionary<Utf8, Int32>>>("prompt");
  const [epoch, policyVersion, promptIndex, groupId, member, imageHeight, imageWidth] = [
    "epoch", "policyVersion", "promptIndex", "groupId", "member", "imageHeight", "imageWidth",
  ].map(int32) as [Data<Int32>, Data<Int32>, Data<Int32>, Data<Int32>, Data<Int32>, Data<Int32>, Data<Int32>];
  const seed = column<Data<Int64>>("seed");
  const decodeSteps = stepsReader(file, batch, metadata);
  const clean = metadata.cleanLatents ? column<Data<FixedSizeList<Float32 | Float16>>>("clean") : undefined;
  const rewards = metadata.rewardComponents.map((c) => [c, float64(rewardColumn(c))] as const);
  const [reward, advantage, discLogitCls, discLogitPatch] = ["reward", "advantage", "discLogitCls", "discLogitPatch"].map(float64) as [
    Data<Float64>, Data<Float64>, Data<Float64>, Data<Float64>,
  ];
  const pooled = tensor("pooled");
  const tokens = metadata.tensorSizes.patchTokens === null ? undefined : { cls: tensor("cls"), patches: tensor("patches") };
  const png = column<Data<Binary>>("png");
  const timings = column<Data<Map_<Utf8, Float64>>>("timings");

  return Array.from(indices, (i) => ({
    runId: readDictionary(runId, i),
    epoch: readNumber(epoch, i),
    policyVersion: readNumber(policyVersion, i),
    prompt: readDictionary(prompt, i),
    promptIndex: readNumber(promptIndex, i),
    groupId: readNumber(groupId, i),
    member: readNumber(member, i),
    seed: readInt64(seed, i),
    steps: decodeSteps(i),
    ...(clean === undefined ? {} : { clean: readTensor(clean, i) }),
    imageHeight: readNumber(imageHeight, i),
    imageWidth: readNumber(imageWidth, i),
    timings: readMap(timings, i),
    pooled: readTensor(pooled, i),
    ...(tokens === undefined ? {} : { cls: readTensor(tokens.cls, i), patches: readTensor(tokens.patches, i) }),
    rewards: Object.fromEntries(rewards.map(([name, data]) => [name, readNumber(data, i)])),
    reward: readNumber(reward, i),
    discLogitCls: readNumber(discLogitCls, i),
    discLogitPatch: readNumber(discLogitPatch, i),
    advantage: readNumber(advantage, i),
    png: readBinary(png, i),
  }));
}
