/**
 * `advgrpo worker <pipeline>`: a rollout worker. It waits for the run's learner to claim the run, refuses a
 * run whose pipeline differs from its own, then takes group tasks from the work queue: loads the weight
 * snapshot the task names, runs the same stages a single process runs (sample -> features -> rewards ->
 * group), publishes the scored group and only then acknowledges the task. While a group is in progress
 * the worker tells JetStream it is alive; a worker that dies stops doing so and its task goes to another
 * worker after `distributed.ackDeadline`.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { copyParamsInto } from "../optim/param-set.ts";
import { rolloutPorts, StageClock } from "../pipeline/adapters.ts";
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import { buildRun, type RunModels, withRun } from "../pipeline/compose.ts";
import type { Policy } from "../pipeline/policy.ts";
import type { RewardModel } from "../pipeline/reward-model.ts";
import type { ScoredRollout } from "../rollout/rollout.ts";
import { scoreGroup } from "../pipeline/epoch-stages.ts";
import { openBus, type RunBus } from "./bus.ts";
import { ConfigHashMismatch } from "./errors.ts";
import { configHash, wireMetadata } from "./identity.ts";
import { publishGroup } from "./results.ts";
import { parseTask, type GroupTask } from "./tasks.ts";
import { fetchWeights, runConfigHash, type WeightSets } from "./weights.ts";

interface WorkerOptions {
  readonly progress: (line: string) => void;
  /** Checked between tasks: true ends the worker after the group in progress. */
  readonly stopRequested: () => boolean;
}

type Distributed = NonNullable<PipelineConfig["distributed"]>;

interface WorkerSummary {
  readonly groups: number;
}

/** Named sets of a snapshot into the live models (the worker's own optimiser states are never used). */
export const applyWeights = (sets: WeightSets, source: string, policy: Policy, rewards: RewardModel): void => {
  const set = (name: string) => {
    const found = sets[name];
    if (!found) throw new Error(`${source}: no weight set '${name}' (the learner's pipeline builds it)`);
    return found;
  };
  copyParamsInto(policy.params, set("generator"), `${source} generator`);
  copyParamsInto(rewards.discriminator.params, set("discriminator"), `${source} discriminator`);
  if (rewards.frozen) copyParamsInto(rewards.frozen.params, set("frozen"), `${source} frozen`);
};

/** The weight sets a worker needs, as the learner publishes them. */
export const workerWeightSets = (policy: Policy, rewards: RewardModel): WeightSets => ({
  generator: policy.params,
  discriminator: rewards.discriminator.params,
  ...(rewards.frozen ? { frozen: rewards.frozen.params } : {}),
});

/** The run's claimed pipeline hash once a learner has claimed the run ("" when the worker is stopped first). */
const waitForLearner = async (bus: RunBus, config: PipelineConfig, options: WorkerOptions): Promise<string> => {
  let said = false;
  for (;;) {
    const hash = await bus.watch.retry("reading the run's pipeline hash", () => runConfigHash(bus));
    if (hash !== undefined) return hash;
    if (options.stopRequested()) return "";
    if (!said) options.progress(`waiting for the learner of run '${config.run.name}' at ${config.distributed!.url}`);
    said = true;
    await bus.watch.guard(new Promise((r) => setTimeout(r, 500)));
  }
};

/** Handles one delivered task: the group sampled and scored with the weights it names, published, then acknowledged. */
const taskHandler = (bus: RunBus, config: PipelineConfig, models: RunModels, options: WorkerOptions) => {
  const { policy, rewards } = models;
  const hash = configHash(config);
  const ports = rolloutPorts({ ...models, clock: new StageClock() });
  const metadata = wireMetadata(config, policy, rewards);
  let loaded: string | undefined;

  const scoredGroup = async (task: GroupTask): Promise<ScoredRollout[]> => {
    if (loaded !== task.weights) {
      const sets = await bus.watch.retry(`fetching weights ${task.weights}`, () => fetchWeights(bus, task.weights));
      applyWeights(sets, `object ${bus.names.objectBucket}/${task.weights}`, policy, rewards);
      loaded = task.weights;
    }
    return scoreGroup(ports, task.keys, config.sampler.groupSize);
  };

  return async (msg: JsMsg): Promise<void> => {
    let task: GroupTask;
    try {
      task = parseTask(msg.subject, msg.data);
    } catch (e) {
      msg.term(); // no worker can do anything with it: never deliver it again
      options.progress(`dropped an unreadable task: ${(e as Error).message}`);
      return;
    }
    if (task.configHash !== hash) {
      msg.nak();
      throw new ConfigHashMismatch({ run: config.run.name, expected: task.configHash, found: hash, source: `task ${task.epoch}/${task.groupId}` });
    }
    const rows = await scoredGroup(task);
    const what = `group ${task.groupId} of epoch ${task.epoch} (attempt ${task.attempt}, delivery ${msg.info.deliveryCount})`;
    await bus.watch.retry(`publishing ${what}`, () => publishGroup(bus, task, metadata, rows));
    // Published is what counts: a task whose acknowledgement is lost comes back, and the learner drops the copy.
    await bus.watch.guard(msg.ackAck()).catch((e: Error) => {
      if (bus.watch.fault) throw bus.watch.fault;
      options.progress(`${what}: acknowledgement failed (${e.message}); the task will come back and its copy be dropped`);
    });
    options.progress(`${what} published`);
  };
};

/** Takes tasks until stopped; returns how many groups were published. */
const takeTasks = async (bus: RunBus, d: Distributed, handle: (msg: JsMsg) => Promise<void>, options: WorkerOptions): Promise<number> => {
  const consumer = await bus.js.consumers.get(bus.names.taskStream, bus.names.taskConsumer);
  let groups = 0;
  // A NATS outage (the server restarting, a network blip) fails fetches and publishes: each is retried
  // until distributed.outageTimeout, and tasks not yet published stay unacknowledged, so they come back.
  while (!options.stopRequested()) {
    const held = await bus.watch.retry("fetching tasks", async () => {
      const got: JsMsg[] = [];
      for await (const msg of await consumer.fetch({ max_messages: d.maxInFlightGroupsPerWorker, expires: 1000 })) got.push(msg);
      return got;
    });
    const alive = setInterval(() => held.forEach((m) => m.working()), Math.max(100, (d.ackDeadline * 1000) / 3));
    try {
      // Every held task stays ours while this worker lives, also those waiting behind the one in progress.
      for (const msg of held) {
        await handle(msg);
        groups += 1;
      }
    } finally {
      clearInterval(alive);
    }
  }
  return groups;
};

export const runWorker = async (config: PipelineConfig, options: WorkerOptions): Promise<WorkerSummary> => {
  const d = config.distributed;
  if (!d) throw new Error("advgrpo worker: the pipeline has no distributed: section (distributed.url names the learner's NATS server)");
  const hash = configHash(config);
  const bus = await openBus({ url: d.url, runName: config.run.name, ackDeadlineMs: d.ackDeadline * 1000, outageTimeoutMs: d.outageTimeout * 1000, onStatus: options.progress });
  try {
    const claimed = await waitForLearner(bus, config, options);
    if (options.stopRequested()) return { groups: 0 };
    if (claimed !== hash) throw new ConfigHashMismatch({ run: config.run.name, expected: claimed, found: hash, source: "advgrpo worker" });
    return await withRun(buildRun(config), async (models) => {
      const handle = taskHandler(bus, config, models, options);
      options.progress(`worker ready for run '${config.run.name}' (pipeline ${hash}) at ${d.url}`);
      return { groups: await takeTasks(bus, d, handle, options) };
    });
  } finally {
    await bus.close();
  }
};
