import { defer, finalize, map, type Observable } from "rxjs";
import { describe, expect, it } from "vitest";
import type { AdvantagedRollout, FeaturedRollout, RolloutKey } from "../rollout/rollout.ts";
import { assembleGroups } from "./assembleGroups.ts";
import { collectEpoch } from "./collectEpoch.ts";
import { computeAdvantages } from "./computeAdvantages.ts";
import { dgSchedule } from "./dgSchedule.ts";
import { discriminatorStep } from "./discriminatorStep.ts";
import { evaluate } from "./evaluate.ts";
import { expandGroup } from "./expandGroup.ts";
import { extractFeatures } from "./extractFeatures.ts";
import { forEachEpoch } from "./forEachEpoch.ts";
import { learnerStep } from "./learnerStep.ts";
import type { StepStats } from "./ports.ts";
import type { SampledRollout } from "../rollout/rollout.ts";
import { recordRollouts } from "./recordRollouts.ts";
import { sampleBatches } from "./sampleBatches.ts";
import { scoreRewards } from "./scoreRewards.ts";
import { fakeSampled, marbleScheduler } from "../../test/stages/testing.ts";

const source = { prompts: ["p0", "p1", "p2", "p3"], promptsPerEpoch: 4, epochs: 3, seed: 5 };
const groupSize = 2;
const rowsPerEpoch = source.promptsPerEpoch * groupSize;

describe("forEachEpoch", () => {
  it("with a slow learner, never has more than one epoch of sampled rows in flight", () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const log: string[] = [];
    const reports: unknown[] = [];

    marbleScheduler().run(({ cold, flush }) => {
      const after = <T>(frames: number, value: T, event: () => void): Observable<T> =>
        defer(() => cold(`${"-".repeat(frames)}(v|)`, { v: value })).pipe(finalize(event));
      const sampler = {
        sample: (keys: readonly RolloutKey[]) =>
          after(2, keys.map(fakeSampled), () => {
            inFlight += keys.length;
            maxInFlight = Math.max(maxInFlight, inFlight);
            log.push(`sample ${keys[0]!.epoch}`);
          }),
      };
      const token = new Float32Array(1);
      const features = { extract: (images: readonly SampledRollout[]) => after(1, images.map(() => ({ cls: token, patches: token, pooled: token })), () => {}) };
      const rewards = {
        score: (rows: readonly FeaturedRollout[]) =>
          after(1, rows.map((row) => ({ rewards: {}, reward: row.member, discLogitCls: 0, discLogitPatch: 0 })), () => {}),
      };
      const recorder = { record: (rows: readonly AdvantagedRollout[]) => after(1, { rowsWritten: rows.length }, () => {}) };
      const slowLearner = {
        step: (groups: readonly (readonly AdvantagedRollout[])[]) =>
          after(50, { groups: groups.length }, () => {
            inFlight -= groups.flat().length;
            log.push(`learn ${groups[0]![0]!.epoch}`);
          }),
      };
      const unused = { step: () => cold<StepStats>("#"), forPrompts: () => cold<never>("#") };
      const evaluator = { evaluate: (epoch: number) => after(3, { epoch }, () => log.push(`evaluate ${epoch}`)) };

      forEachEpoch(source, (prompts, epoch) =>
        prompts.pipe(
          expandGroup({ runId: "run", runSeed: 9, groupSize, policyVersion: (e) => e }),
          sampleBatches(sampler, { batchSize: 2, concurrency: 2 }),
          extractFeatures(features, { batchSize: 2, concurrency: 2 }),
          scoreRewards(rewards, { batchSize: 4, concurrency: 1 }),
          assembleGroups({ groupSize, onMemberError: "fail", maxOpenGroups: 4 }),
          collectEpoch(epoch),
          computeAdvantages(),
          recordRollouts(recorder),
          dgSchedule({ mode: "interval", dTimes: 1 }, { generator: learnerStep(slowLearner, { stepsPerEpoch: 2 }), discriminator: discriminatorStep(unused, unused) }),
          evaluate(evaluator, { every: 2, epoch }),
          map((report) => report.kind),
        ),
      ).subscribe((kind) => reports.push(kind));
      flush();
    });

    expect(maxInFlight).toBe(rowsPerEpoch);
    expect(inFlight).toBe(0);
    // the next epoch's first sampler call only after the previous epoch's last learner step (and evaluation)
    expect(log).toEqual([
      ...Array(4).fill("sample 0"),
      "learn 0",
      "learn 0",
      ...Array(4).fill("sample 1"),
      "learn 1",
      "learn 1",
      "evaluate 1",
      ...Array(4).fill("sample 2"),
      "learn 2",
      "learn 2",
    ]);
    expect(reports).toEqual(["generator", "generator", "generator", "generator", "evaluation", "generator", "generator"]);
  });
});
