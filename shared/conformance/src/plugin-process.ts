import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { ArtifactClient } from "@argo-artifact-drivers/client";

/** A driver's real entrypoint running as a child process on a socket, as Argo runs it. */
export class PluginProcess {
  /** Every plugin started in this test file, for the check that no log line shows a secret. */
  static readonly started: PluginProcess[] = [];
  readonly logs: string[] = [];
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
  ) {
    PluginProcess.started.push(this);
    child.stderr?.setEncoding("utf8");
    let partial = "";
    child.stderr?.on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      this.logs.push(...lines);
    });
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  /** Starts `node entrypoint socketPath` and waits until the socket exists. */
  static async start(
    entrypoint: string,
    socketPath: string,
    env: Record<string, string> = {},
  ): Promise<PluginProcess> {
    const child = spawn(process.execPath, [entrypoint, socketPath], {
      env: { ...process.env, LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "inherit", "pipe"],
    });
    const plugin = new PluginProcess(child, socketPath);
    const deadline = Date.now() + 15_000;
    // Accepting, not only present: the file appears a moment before the server
    // listens on it (a connection then is refused), and a killed plugin's stale
    // file is present while its replacement starts.
    while (!(await accepting(socketPath))) {
      if (plugin.exitCode !== undefined) {
        throw new Error(
          `the plugin exited with ${plugin.exitCode} before serving:\n${plugin.logs.join("\n")}`,
        );
      }
      if (Date.now() > deadline)
        throw new Error(`no socket at ${socketPath} after 15 s:\n${plugin.logs.join("\n")}`);
      await sleep(10);
    }
    return plugin;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error("the plugin process has no pid");
    return this.child.pid;
  }

  /** A client speaking to this plugin with the given configuration. */
  client(configuration: string, pluginName = "conformance"): ArtifactClient {
    return new ArtifactClient(this.socketPath, { pluginName, configuration });
  }

  /** Peak resident memory of the plugin process so far, in bytes (Linux VmHWM). */
  async peakRss(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, "utf8");
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (!match?.[1]) throw new Error("VmHWM not found in /proc status");
    return Number(match[1]) * 1024;
  }

  /** Waits for the exit code without sending a signal (after one was sent). */
  async waitForExit(timeoutMs = 15_000): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    const timer = sleep(timeoutMs).then(() => {
      this.child.kill("SIGKILL");
      throw new Error(`the plugin did not exit within ${timeoutMs} ms`);
    });
    return Promise.race([this.exited, timer]);
  }

  /** Sends `signal` and waits for the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    this.child.kill(signal);
    const timer = sleep(timeoutMs).then(() => {
      this.child.kill("SIGKILL");
      throw new Error(`the plugin did not exit within ${timeoutMs} ms of ${signal}`);
    });
    return Promise.race([this.exited, timer]);
  }
}

/** Whether a process listens on the Unix socket at `path`. */
function accepting(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
