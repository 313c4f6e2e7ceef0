import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort, installedBackend } from "@argo-artifact-drivers/conformance";

const here = dirname(fileURLToPath(import.meta.url));

/** Installs moto_server if needed (test/setup-backend.sh) and returns its executable. */
export function motoServerPath(): string {
  return installedBackend(join(here, "setup-backend.sh"));
}

export interface MotoServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts `moto_server` on a free loopback port and waits until it answers. */
export async function startMoto(
  executable: string,
  options: { tls?: { cert: string; key: string } } = {},
): Promise<MotoServer> {
  const port = await freePort();
  const args = ["-H", "127.0.0.1", "-p", String(port)];
  if (options.tls) args.push("-s", "-c", options.tls.cert, "-k", options.tls.key);
  const child: ChildProcess = spawn(executable, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const scheme = options.tls ? "https" : "http";
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited early:\n${log}`);
    if (await answers(port, options.tls !== undefined)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`moto_server did not answer on ${endpoint} within 60 s:\n${log}`);
    }
    await sleep(100);
  }
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const exited = once(child, "exit");
      const timer = sleep(5000).then(() => child.kill("SIGKILL"));
      await Promise.race([exited, timer]);
    },
  };
}

async function answers(port: number, tls: boolean): Promise<boolean> {
  if (tls) {
    const { connect } = await import("node:tls");
    return new Promise((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
  }
  try {
    const response = await fetch(`http://127.0.0.1:${port}/moto-api/data.json`);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
