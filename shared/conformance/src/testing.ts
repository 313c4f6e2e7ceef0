import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { observedMessages } from "./hardening.js";
import { PluginProcess } from "./plugin-process.js";

/**
 * Helpers for a driver's own tests (beside the kit): the plugin in a fresh
 * folder with its clients, the message of a call that must fail, a free port.
 */
export class TestPlugin {
  private readonly clients: ArtifactClient[] = [];

  private constructor(
    readonly process: PluginProcess,
    readonly work: string,
    private readonly pluginName: string,
  ) {}

  /** The driver's real entrypoint on a socket in a fresh temp folder. */
  static async start(
    entrypoint: string,
    options: { env?: Record<string, string>; pluginName?: string } = {},
  ): Promise<TestPlugin> {
    const name = options.pluginName ?? "test-plugin";
    const work = await mkdtemp(join(tmpdir(), `${name}-`));
    const process = await PluginProcess.start(entrypoint, join(work, "socket"), options.env);
    return new TestPlugin(process, work, name);
  }

  get socketPath(): string {
    return this.process.socketPath;
  }

  get logs(): string[] {
    return this.process.logs;
  }

  /** A client with `configuration`, closed by `stop()`. */
  client(configuration: string): ArtifactClient {
    const client = this.process.client(configuration, this.pluginName);
    this.clients.push(client);
    return client;
  }

  /** Closes the clients, stops the plugin (SIGTERM) and removes the folder; the exit code. */
  async stop(): Promise<number | null> {
    for (const client of this.clients) client.close();
    try {
      return await this.process.stop();
    } finally {
      await rm(this.work, { recursive: true, force: true });
    }
  }
}

/** The message of a call that must fail; throws if it succeeds. */
export async function failureMessage(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    observedMessages.push(message);
    return message;
  }
  throw new Error("the call should have failed");
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port was assigned");
  return address.port;
}

/**
 * Runs a driver's `test/setup-backend.sh` (which installs the test backend
 * when it is missing) and returns the last line it prints: the server's path.
 */
export function installedBackend(setupScript: string): string {
  const output = execFileSync("bash", [setupScript], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const path = output.trim().split("\n").pop();
  if (!path) throw new Error(`${setupScript} printed no server path`);
  return path;
}

/** A self-signed certificate for `localhost` and 127.0.0.1 in `folder`, for test servers speaking HTTPS. */
export function selfSignedCertificate(folder: string): { cert: string; key: string } {
  const cert = join(folder, "cert.pem");
  const key = join(folder, "key.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
      ...["-keyout", key, "-out", cert, "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
