/**
 * prompts  --p--------q--------|
 * keys     --(p0 p1 .. pG-1)--(q0 q1 .. qG-1)--|
 *
 * Each member's seed hashes (run seed, epoch, group, member): reproducible one by one.
 */
import { concatMap, type OperatorFunction } from "rxjs";
import type { RolloutKey } from "../rollout/rollout.ts";
import { requirePositiveInteger } from "./errors.ts";
import { deriveSeed } from "./seeds.ts";
import type { PromptItem } from "./types.ts";

export interface ExpandGroupOptions {
  readonly runId: string;
  readonly runSeed: number;
  /** G: samples per prompt. */
  readonly groupSize: number;
  /** Generator optimiser steps taken so far, read when the group is expanded. */
  readonly policyVersion: (epoch: number) => number;
}

export function memberSeed(runSeed: number, epoch: number, groupId: number, member: number): number {
  return deriveSeed(runSeed, epoch, groupId, member);
}

export function expandGroup(options: ExpandGroupOptions): OperatorFunction<PromptItem, RolloutKey> {
  const groupSize = requirePositiveInteger("expandGroup", "groupSize", options.groupSize);
  return concatMap((item) => {
    const policyVersion = options.policyVersion(item.epoch);
    return Array.from({ length: groupSize }, (_, member): RolloutKey => ({
      runId: options.runId,
      epoch: item.epoch,
      policyVersion,
      prompt: item.prompt,
      promptIndex: item.promptIndex,
      groupId: item.groupId,
      member,
      seed: memberSeed(options.runSeed, item.epoch, item.groupId, member),
    }));
  });
}
