/**
 * One writer per run folder. A run holds `<run folder>/run.lock` for its whole life: two writers would
 * interleave rows and metrics, and a resume cuts the logs back, which would destroy what the other one
 * is writing. The lock names its holder (PID, host, command, start time) so a refusal says who holds it;
 * a lock whose process is gone (a kill -9, a power cut) is detected as stale on the same host and taken over.
 *
 * The lock file is created complete: written under a temporary name and hard-linked into place, which
 * fails atomically when the lock exists, so no reader ever sees a half-written holder.
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Schema } from "effect";

export const LOCK_FILE = "run.lock";

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly command: string;
  readonly since: string;
}

class RunFolderLocked extends Schema.TaggedError<RunFolderLocked>()("RunFolderLocked", {
  lockFile: Schema.String,
  holder: Schema.String,
  hint: Schema.String,
}) {
  override get message() {
    return `the run folder is in use: ${this.lockFile} is held by ${this.holder}; ${this.hint}`;
  }
}

interface RunLock {
  readonly file: string;
  /** Set when a stale lock (its process gone) was taken over: what it said. */
  readonly tookOverFrom: string | undefined;
  release(): void;
}

const describe = (h: Holder): string => `\`advgrpo ${h.command}\` (pid ${h.pid} on ${h.host}, since ${h.since})`;

const readHolder = (file: string): Holder | undefined => {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>;
    return typeof parsed.pid === "number" && typeof parsed.host === "string" ? { command: "?", since: "?", ...parsed } as Holder : undefined;
  } catch {
    return undefined;
  }
};

/** Whether a process with this id runs on this host. */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

const tryCreate = (file: string, holder: Holder): boolean => {
  const temporary = `${file}.${holder.pid}.${process.hrtime.bigint()}`;
  writeFileSync(temporary, `${JSON.stringify(holder)}\n`);
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
};

/** Takes the run folder's lock or fails naming who holds it; `command` is what the holder is doing ("run"). */
export const acquireRunLock = (root: string, command: string): RunLock => {
  const file = join(root, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  let tookOverFrom: string | undefined;
  for (let attempt = 0; !tryCreate(file, me); attempt++) {
    const holder = readHolder(file);
    const stale = holder === undefined || (holder.host === me.host && !processAlive(holder.pid));
    if (!stale || attempt > 0) {
      const other = holder?.host !== me.host;
      throw new RunFolderLocked({
        lockFile: file,
        holder: holder ? describe(holder) : "an unreadable lock",
        hint: other
          ? `wait for it to finish, or, if that process is gone, delete ${file}`
          : `wait for it to finish or stop it; run the other job on another run.name`,
      });
    }
    tookOverFrom = holder ? describe(holder) : "an unreadable lock";
    unlinkSync(file);
  }
  return {
    file,
    tookOverFrom,
    release: () => {
      // Only our own lock: after a takeover elsewhere the file may name another holder.
      if (readHolder(file)?.pid === me.pid && readHolder(file)?.host === me.host) unlinkSync(file);
    },
  };
};
