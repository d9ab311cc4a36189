/**
 * A private nats-server for a test file or a benchmark: JetStream on, 127.0.0.1, a free port, a temporary store
 * folder; stopped by PID. The binary comes from the system (`.ci/run` and `npm test`'s pretest step
 * install Debian's nats-server when it is missing), so a missing binary is a failure, not a skip.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGKILLs the server (its store folder stays, so `start` again resumes the same streams). */
  kill(): Promise<void>;
  /** Starts it again on the same port and store after `kill`. */
  restart(): Promise<void>;
  /** Kills it and removes the store. */
  stop(): Promise<void>;
}

import { existsSync } from "node:fs";

/** NATS_SERVER, else the PATH, else Debian's /usr/sbin (not on a normal user's PATH). */
const NATS_SERVER = process.env.NATS_SERVER ?? (spawnSync("nats-server", ["--version"]).error && existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const accepting = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));

export const startNatsServer = async (): Promise<NatsServer> => {
  const probe = spawnSync(NATS_SERVER, ["--version"], { encoding: "utf8" });
  if (probe.error) {
    throw new Error(`${NATS_SERVER} is not installed (${probe.error.message}); install it with: apt-get install nats-server (npm test's pretest step and .ci/run do this when apt-get is available)`);
  }
  const store = mkdtempSync(join(tmpdir(), "advgrpo-nats-"));
  const port = await freePort();
  let child: ChildProcess;
  let output = "";
  const launch = async () => {
    output = "";
    child = spawn(NATS_SERVER, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${output}`);
      if ((await accepting(port)) && output.includes("Server is ready")) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`nats-server did not start on port ${port} within 5 s: ${output}`);
  };
  await launch();
  const kill = async () => {
    process.kill(child.pid!, "SIGKILL");
    await exited(child);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    kill,
    restart: launch,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) await kill();
      rmSync(store, { recursive: true, force: true });
    },
  };
};
