import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort, installedBackend } from "@argo-artifact-drivers/conformance";

const here = dirname(fileURLToPath(import.meta.url));

/** Installs fake-gcs-server if needed (test/setup-backend.sh) and returns its executable. */
export function fakeGcsServerPath(): string {
  return installedBackend(join(here, "setup-backend.sh"));
}

export interface FakeGcsOptions {
  /** Objects in RAM (default), or as files under `root`, which tests can then corrupt. */
  root?: string;
  tls?: { cert: string; key: string };
}

export interface FakeGcs {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts fake-gcs-server on a free loopback port (never on all interfaces)
 * and waits for its health check.
 */
export async function startFakeGcs(
  executable: string,
  options: FakeGcsOptions = {},
): Promise<FakeGcs> {
  const port = await freePort();
  const scheme = options.tls ? "https" : "http";
  const args = ["-scheme", scheme, "-host", "127.0.0.1", "-port", String(port)];
  args.push("-log-level", "warn");
  if (options.root) args.push("-backend", "filesystem", "-filesystem-root", options.root);
  else args.push("-backend", "memory");
  if (options.tls) {
    args.push("-cert-location", options.tls.cert, "-private-key-location", options.tls.key);
  }
  const child = spawn(executable, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fake-gcs-server exited early:\n${log}`);
    if (await healthy(endpoint, options.tls?.cert)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`fake-gcs-server did not answer on ${endpoint} within 30 s:\n${log}`);
    }
    await sleep(100);
  }
  return {
    endpoint,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = sleep(5000).then(() => child.kill("SIGKILL"));
      await Promise.race([exited, timer]);
    },
  };
}

async function healthy(endpoint: string, ca: string | undefined): Promise<boolean> {
  if (ca) {
    const { request } = await import("node:https");
    const { readFileSync } = await import("node:fs");
    return new Promise((resolve) => {
      const req = request(
        `${endpoint}/_internal/healthcheck`,
        { ca: readFileSync(ca) },
        (response) => {
          response.resume();
          resolve(response.statusCode === 200);
        },
      );
      req.on("error", () => resolve(false));
      req.end();
    });
  }
  try {
    const response = await fetch(`${endpoint}/_internal/healthcheck`);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Creates a bucket through the JSON API (the emulator checks no credentials). */
export async function createBucket(endpoint: string, name: string, ca?: string): Promise<void> {
  const { request } = endpoint.startsWith("https:")
    ? await import("node:https")
    : await import("node:http");
  const { readFileSync } = await import("node:fs");
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const req = request(
        `${endpoint}/storage/v1/b?project=test-project`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          ...(ca ? { ca: readFileSync(ca) } : {}),
        },
        (response: IncomingMessage) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            body += chunk;
          });
          response.once("end", () => resolve({ status: response.statusCode ?? 0, text: body }));
        },
      );
      req.once("error", reject);
      req.end(JSON.stringify({ name }));
    },
  );
  if (status >= 300 && status !== 409) {
    throw new Error(`creating bucket ${name} at ${endpoint}: HTTP ${status} ${text}`);
  }
}
