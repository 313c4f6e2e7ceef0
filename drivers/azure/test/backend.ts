// Test backends on loopback: Azurite (blob service only, no telemetry) and
// Toxiproxy, both installed by setup-backend.sh. Also used by the benchmark.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort } from "@argo-artifact-drivers/conformance";

const here = dirname(fileURLToPath(import.meta.url));

/** Azurite's well-known development account (public, documented by Microsoft). */
export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Backends {
  azurite: string;
  toxiproxy: string;
}

/** Runs test/setup-backend.sh (installing what is missing) and returns the two servers. */
export function backendPaths(): Backends {
  const output = execFileSync("bash", [join(here, "setup-backend.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [toxiproxy, azurite] = output.trim().split("\n").slice(-2);
  if (!toxiproxy || !azurite) throw new Error(`test/setup-backend.sh printed:\n${output}`);
  return { azurite, toxiproxy };
}

export interface Server {
  /** Azurite: the account URL (http(s)://127.0.0.1:PORT/devstoreaccount1); Toxiproxy: its API URL. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /** HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** Accept Azure AD bearer tokens (needs `tls`). */
  oauth?: boolean;
  /** Caps the in-memory blob store, in MiB. */
  memoryLimitMiB?: number;
}

/** Starts Azurite's blob service on a free loopback port, in memory, and waits until it listens. */
export async function startAzurite(main: string, options: AzuriteOptions = {}): Promise<Server> {
  const port = await freePort();
  const args = [
    main,
    ...["--blobHost", "127.0.0.1", "--blobPort", String(port)],
    "--inMemoryPersistence",
    // The SDK speaks a newer API version than this Azurite knows.
    "--skipApiVersionCheck",
    // Telemetry would send data off this machine.
    "--disableTelemetry",
    "--silent",
  ];
  if (options.memoryLimitMiB) args.push("--extentMemoryLimit", String(options.memoryLimitMiB));
  if (options.tls) args.push("--cert", options.tls.cert, "--key", options.tls.key);
  if (options.oauth) args.push("--oauth", "basic");
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    // Azurite writes its workspace files (debug log, ...) to its working directory.
    cwd: dirname(main),
  });
  const scheme = options.tls ? "https" : "http";
  await waitForPort(child, port, "Azurite");
  return {
    url: `${scheme}://127.0.0.1:${port}/${DEV_ACCOUNT}`,
    port,
    stop: () => stopChild(child),
  };
}

/** Starts toxiproxy-server on a free loopback port. */
export async function startToxiproxy(executable: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(executable, ["-host", "127.0.0.1", "-port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  await waitForPort(child, port, "toxiproxy-server");
  return { url: `http://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

async function waitForPort(child: ChildProcess, port: number, name: string): Promise<void> {
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited early:\n${log}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not listen on port ${port} within 30 s:\n${log}`);
    }
    await sleep(50);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = sleep(5000).then(() => child.kill("SIGKILL"));
  await Promise.race([exited, timer]);
}

export interface Proxy {
  /** The proxy's loopback port. */
  readonly port: number;
  /** Closes every connection once it has carried `bytes` bytes towards the client. */
  cutAfter(bytes: number): Promise<void>;
  /** Lets nothing through towards the client, without closing connections: a silent peer. */
  silence(): Promise<void>;
  delete(): Promise<void>;
}

/** A Toxiproxy proxy from a free loopback port to `upstreamPort`. */
export async function createProxy(api: string, upstreamPort: number): Promise<Proxy> {
  const port = await freePort();
  const name = `azurite-${port}`;
  await toxiproxyCall(api, "POST", "/proxies", {
    name,
    listen: `127.0.0.1:${port}`,
    upstream: `127.0.0.1:${upstreamPort}`,
  });
  return {
    port,
    cutAfter: (bytes) =>
      toxiproxyCall(api, "POST", `/proxies/${name}/toxics`, {
        name: "cut",
        type: "limit_data",
        stream: "downstream",
        attributes: { bytes },
      }),
    silence: () =>
      toxiproxyCall(api, "POST", `/proxies/${name}/toxics`, {
        name: "silence",
        type: "timeout",
        stream: "downstream",
        attributes: { timeout: 0 },
      }),
    delete: () => toxiproxyCall(api, "DELETE", `/proxies/${name}`),
  };
}

async function toxiproxyCall(api: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${api}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: HTTP ${response.status} ${text}`);
}
