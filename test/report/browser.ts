/**
 * A page opened in Debian's headless Chromium through the DevTools protocol (Node's WebSocket, no
 * dependency): load a file, list what it requested, evaluate an expression in it, take a screenshot.
 * The report's Content-Security-Policy forbids page scripts; DevTools evaluation is not a page script.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM ?? "chromium";

export interface LoadedPage {
  /** Every URL the page requested, in order. */
  readonly requests: readonly string[];
  /** The value of a JavaScript expression evaluated in the page (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** PNG bytes of the viewport. */
  screenshot(): Promise<Uint8Array>;
  close(): Promise<void>;
}

const devtoolsUrl = (child: ChildProcess): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (match) resolve(match[1]!);
    });
    child.once("error", (error) => reject(new Error(`cannot start ${CHROMIUM} (install Debian's chromium, or set CHROMIUM): ${error.message}`)));
    child.once("exit", (code) => reject(new Error(`${CHROMIUM} exited with ${code} before DevTools listened:\n${text.slice(-2000)}`)));
  });

/** Opens `url` in a fresh headless Chromium with a `width` x `height` viewport and waits for its load event. */
export async function openPage(url: string, width: number, height: number): Promise<LoadedPage> {
  const profile = mkdtempSync(join(tmpdir(), "advgrpo-chromium-"));
  const child = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const close = async () => {
    child.kill("SIGKILL");
    await new Promise((resolve) => (child.exitCode === null ? child.once("exit", resolve) : resolve(undefined)));
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const browser = new URL(await devtoolsUrl(child));
    const targets = (await (await fetch(`http://${browser.host}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const socket = new WebSocket(targets.find((t) => t.type === "page")!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("cannot connect to the page's DevTools socket"));
    });
    let nextId = 0;
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
    const events: { method: string; params: Record<string, unknown> }[] = [];
    let onEvent = () => {};
    socket.onmessage = (message) => {
      const data = JSON.parse(String(message.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (data.id === undefined) {
        events.push({ method: data.method!, params: data.params ?? {} });
        onEvent();
        return;
      }
      const call = pending.get(data.id)!;
      pending.delete(data.id);
      if (data.error) call.reject(new Error(data.error.message));
      else call.resolve(data.result);
    };
    const send = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        socket.send(JSON.stringify({ id, method, params }));
      });
    await send("Network.enable");
    await send("Page.enable");
    await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
    const loaded = new Promise<void>((resolve) => {
      onEvent = () => events.some((e) => e.method === "Page.loadEventFired") && resolve();
    });
    await send("Page.navigate", { url });
    await loaded;
    return {
      get requests() {
        return events.filter((e) => e.method === "Network.requestWillBeSent").map((e) => (e.params.request as { url: string }).url);
      },
      evaluate: async <T>(expression: string) => {
        const { result, exceptionDetails } = await send<{ result: { value: T }; exceptionDetails?: { text: string } }>("Runtime.evaluate", { expression, returnByValue: true });
        if (exceptionDetails) throw new Error(`evaluating in the page failed: ${exceptionDetails.text}`);
        return result.value;
      },
      screenshot: async () => Buffer.from((await send<{ data: string }>("Page.captureScreenshot", { format: "png" })).data, "base64"),
      close: async () => {
        socket.close();
        await close();
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}
