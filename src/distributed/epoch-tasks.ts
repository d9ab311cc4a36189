/**
 * The learner's side of the task queue, epoch by epoch: the tasks issued (with their attempts) and the reader
 * of their results. Epoch e starts once, however many groups ask for it: its snapshot is taken, the epochs up
 * to e + learner.maxPolicyLag are issued ahead, and the epochs before it are retired. A group whose result is
 * refused, or which is lost, is issued again at its next attempt.
 */
import type { PipelineConfig } from "../pipeline/config/schema.ts";
import { samplingEpoch } from "../pipeline/ahead-ports.ts";
import { trainingPrompts } from "../pipeline/prompts.ts";
import type { ScoredRollout } from "../rollout/rollout.ts";
import { memberSeed } from "../stages/expandGroup.ts";
import { promptsOfEpoch, type PromptSourceOptions } from "../stages/promptSource.ts";
import type { RunBus } from "./bus.ts";
import { EpochResults } from "./results.ts";
import type { WireMetadata } from "./rollout-wire.ts";
import type { Snapshot } from "./snapshots.ts";
import { publishTask, type GroupTask } from "./tasks.ts";

interface EpochTasksOptions {
  readonly config: PipelineConfig;
  readonly configHash: string;
  /** The run instance, part of every task's message id. */
  readonly instance: string;
  readonly metadata: WireMetadata;
  readonly snapshotOf: (epoch: number, current: number) => Promise<Snapshot>;
  readonly progress: (line: string) => void;
}

interface Issued {
  readonly tasks: Map<number, GroupTask>;
  readonly results: EpochResults;
}

/** Why rows a worker returned are not the group its task asked for, or undefined when they are. */
const misfit = (task: GroupTask | undefined, groupId: number, rows: readonly ScoredRollout[], lag: number): string | undefined => {
  const keys = task?.keys;
  if (!keys) return `group ${groupId} was not issued in this epoch`;
  if (rows.length !== keys.length) return `${rows.length} rows for a group of ${keys.length}`;
  const wrong = rows.findIndex((r, i) => r.member !== keys[i]!.member || r.seed !== keys[i]!.seed || r.groupId !== groupId);
  if (wrong >= 0) return `row ${wrong} is member ${rows[wrong]!.member} seed ${rows[wrong]!.seed}, the task asked for member ${keys[wrong]!.member} seed ${keys[wrong]!.seed}`;
  const stale = rows.find((r, i) => r.policyVersion !== keys[i]!.policyVersion);
  if (stale) return `sampled with policy version ${stale.policyVersion}, the task named ${keys[0]!.policyVersion} (learner.maxPolicyLag ${lag})`;
  return undefined;
};

/** The first attempt of every group of `epoch`, sampled with `snapshot`. */
const firstTasks = (o: EpochTasksOptions, source: PromptSourceOptions, epoch: number, snapshot: Snapshot): GroupTask[] => {
  const { config } = o;
  return promptsOfEpoch(source, epoch).map((item) => {
    const keys = Array.from({ length: config.sampler.groupSize }, (_, member) => ({
      runId: config.run.name, epoch, policyVersion: snapshot.version, prompt: item.prompt, promptIndex: item.promptIndex, groupId: item.groupId, member,
      seed: memberSeed(config.run.seed, epoch, item.groupId, member),
    }));
    return { configHash: o.configHash, instance: o.instance, epoch, groupId: item.groupId, attempt: 0, weights: snapshot.name, keys: [keys[0]!, ...keys.slice(1)] };
  });
};

export class EpochTasks {
  private readonly issued = new Map<number, Promise<Issued>>();
  private readonly started = new Map<number, Promise<Issued>>();
  /** The results of every issued epoch not yet retired, once their reader is open. */
  private readonly reading = new Map<number, EpochResults>();
  private readonly bus: RunBus;
  private readonly o: EpochTasksOptions;
  private readonly lag: number;
  private readonly prompts: PromptSourceOptions;

  constructor(bus: RunBus, options: EpochTasksOptions) {
    const { config } = options;
    this.bus = bus;
    this.o = options;
    this.lag = config.learner.maxPolicyLag;
    this.prompts = { prompts: trainingPrompts(config), promptsPerEpoch: config.sampler.promptsPerEpoch, epochs: config.run.epochs, seed: config.run.seed };
  }

  /** The epoch's results, once it has started (see the module comment). */
  async start(epoch: number): Promise<EpochResults> {
    return (await this.startOnce(epoch)).results;
  }

  /** Issues `groupId` of `epoch` again at its next attempt, telling the user `why`. */
  reissue(epoch: number, groupId: number, why: string): void {
    void this.issued.get(epoch)?.then(({ tasks }) => {
      const previous = tasks.get(groupId)!;
      const task = { ...previous, attempt: previous.attempt + 1 };
      tasks.set(groupId, task);
      this.o.progress(`${why}; re-issuing group ${groupId} of epoch ${epoch} (attempt ${task.attempt})`);
      const what = `re-issuing group ${groupId} of epoch ${epoch}`;
      return this.bus.watch.retry(what, () => publishTask(this.bus, task)).catch((e: Error) => this.o.progress(`could not re-issue group ${groupId} of epoch ${epoch}: ${e.message}; the epoch waits for it`));
    });
  }

  /** The groups asked for and not yet arrived, by epoch. */
  awaited(): ReadonlyMap<number, readonly number[]> {
    return new Map([...this.reading].map(([epoch, results]) => [epoch, results.awaited()]));
  }

  /** Stops every reader; `settle` decides what a failure to stop one means. */
  async close(settle: (closing: Promise<unknown>) => Promise<unknown>): Promise<void> {
    for (const issued of this.issued.values()) await settle(issued.then((i) => i.results.close()));
  }

  private startOnce(epoch: number): Promise<Issued> {
    const known = this.started.get(epoch);
    if (known) return known;
    // The snapshot is taken now, before anything awaits, while the weights are the epoch's start weights.
    const own = this.o.snapshotOf(epoch, epoch);
    const ahead = Math.min(epoch + this.lag, this.o.config.run.epochs - 1);
    for (let j = epoch + 1; j <= ahead; j++) this.issue(j, epoch).catch(() => {}); // a failure surfaces when epoch j starts
    const sampledWith = samplingEpoch(epoch, this.lag);
    if (this.lag > 0) this.o.progress(`epoch ${epoch + 1} samples with the weights of epoch ${sampledWith + 1} (lag ${epoch - sampledWith} epochs); sampling epochs up to ${ahead + 1} ahead`);
    const made = (async () => {
      await this.retireBefore(epoch);
      await own;
      return this.issue(epoch, epoch);
    })();
    this.started.set(epoch, made);
    return made;
  }

  private async retireBefore(epoch: number): Promise<void> {
    for (const [e, issued] of this.issued) {
      if (e >= epoch) continue;
      this.issued.delete(e);
      this.started.delete(e);
      this.reading.delete(e);
      await (await issued).results.close();
    }
  }

  /** Opens the epoch's results, then publishes its tasks (once; `current` is the epoch the learner is in). */
  private issue(epoch: number, current: number): Promise<Issued> {
    const known = this.issued.get(epoch);
    if (known) return known;
    const { bus, o } = this;
    const made = (async () => {
      const snapshot = await o.snapshotOf(samplingEpoch(epoch, this.lag), current);
      const tasks = new Map<number, GroupTask>();
      const results = await bus.watch.retry(`reading epoch ${epoch}'s results`, () =>
        EpochResults.open(bus, {
          epoch,
          configHash: o.configHash,
          metadata: o.metadata,
          onRefused: (g, why) => this.reissue(epoch, g, `refused a result: ${why}`),
          check: (g, rows) => misfit(tasks.get(g), g, rows, this.lag),
        }),
      );
      this.reading.set(epoch, results);
      for (const task of firstTasks(o, this.prompts, epoch, snapshot)) {
        tasks.set(task.groupId, task);
        await bus.watch.retry(`issuing group ${task.groupId} of epoch ${epoch}`, () => publishTask(bus, task));
      }
      return { tasks, results };
    })();
    this.issued.set(epoch, made);
    return made;
  }
}
