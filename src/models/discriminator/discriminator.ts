/**
 * The discriminator as a stateful object: head weights + Adam (lr 1e-4, betas (0.5, 0.999), no weight
 * decay), one full-batch hinge step per call, scoring with the same head and token transform.
 * Graphs have static shapes, so one session is compiled per batch size and kept.
 */
import type { Features } from "../backbone/features.ts";
import { initParams } from "../../nn/params.ts";
import { adam } from "../../optim/adam.ts";
import type { Optimizer, OptimizerState } from "../../optim/optimizer.ts";
import { cloneParams, copyParamsInto, type ParamSet } from "../../optim/param-set.ts";
import type { ExecutionConfig } from "../../runtime/execution.ts";
import { defaultExecution } from "../../runtime/execution.ts";
import { LocalSession } from "../../runtime/local-session.ts";
import { f32, hostTensor, type Feeds } from "../../runtime/tensors.ts";
import { compileForward, compileTrainStep, paramFeeds, runTrainStep, type CompiledGraph, type CompiledTrainGraph } from "../../train/train-graph.ts";
import { discriminatorAccuracy, discriminatorScoreBuilder, discriminatorTrainBuilder, flatPatchRows, type HeadConfig } from "./head.ts";

export interface OptimConfig {
  readonly lr: number;
  readonly betas: readonly [number, number];
}

export const DEFAULT_DISCRIMINATOR_OPTIM: OptimConfig = { lr: 1e-4, betas: [0.5, 0.999] };

/** Tokens of a batch plus the patch indices [B, n] drawn for it. */
export interface ScoredTokens {
  readonly features: Features;
  readonly patchIndices: Int32Array;
}

export interface StepMetrics {
  readonly loss: number;
  readonly lossGlobal: number;
  readonly lossLocal: number;
  readonly accuracy: number;
}

export interface Scores {
  readonly reward: Float32Array;
  readonly cls: Float32Array;
  readonly patch: Float32Array;
}

/** Everything a checkpoint needs to resume the discriminator exactly. */
interface DiscriminatorState {
  readonly params: ParamSet;
  readonly optimizer: OptimizerState;
}

const tokenFeeds = (prefix: string, t: ScoredTokens, perImage: number): Feeds => {
  const { features: f, patchIndices } = t;
  if (patchIndices.length !== f.batch * perImage) throw new RangeError(`${prefix}patch indices: expected ${f.batch} x ${perImage}, got ${patchIndices.length}`);
  return {
    [`${prefix}cls`]: f32([f.batch, f.dim], f.cls),
    [`${prefix}patches`]: f32([f.batch, f.patchCount, f.dim], f.patches),
    [`${prefix}patch_rows`]: hostTensor("int64", [f.batch * perImage], flatPatchRows(patchIndices, f.batch, f.patchCount)),
  };
};

export class Discriminator {
  readonly config: HeadConfig;
  readonly params: ParamSet;
  private readonly patchCount: number;
  private readonly optimizer: Optimizer;
  private readonly execution: ExecutionConfig;
  private readonly trainGraphs = new Map<string, { graph: CompiledTrainGraph; session: LocalSession }>();
  private readonly scoreGraphs = new Map<number, { graph: CompiledGraph; session: LocalSession }>();

  constructor(config: HeadConfig, patchCount: number, seed: number, optim: OptimConfig = DEFAULT_DISCRIMINATOR_OPTIM, execution: ExecutionConfig = defaultExecution) {
    this.config = config;
    this.patchCount = patchCount;
    this.execution = execution;
    this.params = initParams(compileForward("discriminator_spec", discriminatorScoreBuilder(config, 1, patchCount)).params, seed);
    this.optimizer = adam(this.params, { lr: optim.lr, betas: optim.betas });
  }

  /** One hinge step on references (positives) vs generated samples (negatives). */
  async step(ref: ScoredTokens, gen: ScoredTokens): Promise<StepMetrics> {
    const key = `${ref.features.batch}:${gen.features.batch}`;
    let entry = this.trainGraphs.get(key);
    if (!entry) {
      const graph = compileTrainStep(`discriminator_train_${key}`, discriminatorTrainBuilder(this.config, ref.features.batch, gen.features.batch, this.patchCount));
      entry = { graph, session: await LocalSession.create(graph.name, graph.bytes, this.execution) };
      this.trainGraphs.set(key, entry);
    }
    const n = this.config.patchesPerImage;
    const result = await runTrainStep(entry.session, entry.graph, this.params, { ...tokenFeeds("ref_", ref, n), ...tokenFeeds("gen_", gen, n) });
    this.optimizer.step(result.grads);
    const o = result.outputs;
    return {
      loss: result.loss,
      lossGlobal: Number(o.loss_global!.data[0]),
      lossLocal: Number(o.loss_local!.data[0]),
      accuracy: discriminatorAccuracy(o.ref_cls_logits!.data as Float32Array, o.gen_cls_logits!.data as Float32Array),
    };
  }

  /** Rewards R = 0.7 h(cls) + 0.3 mean_k h(patch_k) (weights from the config) with the current weights. */
  async score(tokens: ScoredTokens): Promise<Scores> {
    const batch = tokens.features.batch;
    let entry = this.scoreGraphs.get(batch);
    if (!entry) {
      const graph = compileForward(`discriminator_score_${batch}`, discriminatorScoreBuilder(this.config, batch, this.patchCount));
      entry = { graph, session: await LocalSession.create(graph.name, graph.bytes, this.execution) };
      this.scoreGraphs.set(batch, entry);
    }
    const o = await entry.session.run({ ...paramFeeds(this.params), ...tokenFeeds("", tokens, this.config.patchesPerImage) });
    return { reward: o.reward!.data as Float32Array, cls: o.cls_logits!.data as Float32Array, patch: o.patch_logits!.data as Float32Array };
  }

  exportState(): DiscriminatorState {
    return { params: cloneParams(this.params), optimizer: this.optimizer.exportState() };
  }

  /** Replaces weights and Adam state; a state that does not fit throws before anything changes. */
  importState(state: DiscriminatorState): void {
    copyParamsInto(cloneParams(this.params), state.params, "discriminator state");
    this.optimizer.importState(state.optimizer);
    copyParamsInto(this.params, state.params, "discriminator state");
  }

  async release(): Promise<void> {
    for (const { session } of [...this.trainGraphs.values(), ...this.scoreGraphs.values()]) await session.release();
    this.trainGraphs.clear();
    this.scoreGraphs.clear();
  }
}
