/**
 * What makes a worker's groups belong to a learner's run: the same pipeline (hashed without the
 * `distributed:` section, which only says how to reach the server and may differ per machine) and the
 * same rollout layout on the wire.
 */
import { createHash } from "node:crypto";
import { featureLayout } from "../models/backbone/features.ts";
import { resolvedConfigJson } from "../pipeline/config/canonical-json.ts";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import type { Policy } from "../pipeline/policy.ts";
import type { RewardModel } from "../pipeline/reward-model.ts";
import type { WireMetadata } from "./rollout-wire.ts";

export const configHash = (config: PipelineConfig): string => {
  const { distributed: _transport, ...rest } = config;
  return createHash("sha256").update(resolvedConfigJson(rest as PipelineConfig)).digest("hex").slice(0, 16);
};

export const wireMetadata = (config: PipelineConfig, policy: Policy, rewards: RewardModel): WireMetadata => {
  const layout = featureLayout(rewards.features.config, rewards.features.config.dim!);
  return {
    runId: config.run.name,
    createdAt: "",
    pipelineConfig: resolvedConfigJson(config),
    rewardComponents: rewards.components.map((c) => c.component.name),
    tensorSizes: { latent: policy.config.net.latentShape.reduce((a, b) => a * b, 1), feature: layout.dim, patchTokens: layout.patchCount },
    // The learner trains on these latents, so the wire never rounds them (record.latentDtype is the log's choice).
    latentDtype: "float32",
    // nft/awm through a VAE learn from each rollout's final latent, so it travels with the group.
    ...(policy.sampler.recordsClean ? { cleanLatents: true } : {}),
  };
};
