import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort, installedBackend } from "./testing.js";

const SETUP = fileURLToPath(new URL("../setup-toxiproxy.sh", import.meta.url));

export type ToxicType = "latency" | "bandwidth" | "reset_peer" | "timeout" | "limit_data";

export interface Toxic {
  type: ToxicType;
  /** "upstream": towards the backend (uploads); "downstream": towards the driver (downloads). */
  stream: "upstream" | "downstream";
  attributes: Record<string, number>;
}

/** One Toxiproxy proxy: a loopback port forwarding to the backend, with toxics added and removed by name. */
export class ToxicProxy {
  constructor(
    private readonly api: string,
    readonly name: string,
    /** host:port the driver is pointed at. */
    readonly address: string,
  ) {}

  async add(name: string, toxic: Toxic): Promise<void> {
    await call(this.api, "POST", `/proxies/${this.name}/toxics`, { name, ...toxic });
  }

  async remove(name: string): Promise<void> {
    await call(this.api, "DELETE", `/proxies/${this.name}/toxics/${name}`);
  }

  async delete(): Promise<void> {
    await call(this.api, "DELETE", `/proxies/${this.name}`);
  }
}

/** A toxiproxy-server on a free loopback port (installed by setup-toxiproxy.sh). */
export class Toxiproxy {
  private constructor(
    private readonly child: ChildProcess,
    private readonly api: string,
  ) {}

  static async start(): Promise<Toxiproxy> {
    const executable = installedBackend(SETUP);
    const port = await freePort();
    const child = spawn(executable, ["-host", "127.0.0.1", "-port", String(port)], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 15_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null)
        throw new Error(`toxiproxy-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`toxiproxy-server did not listen on port ${port} within 15 s`);
      }
      await sleep(30);
    }
    return new Toxiproxy(child, `http://127.0.0.1:${port}`);
  }

  /** A new proxy from a free loopback port to `upstream` (host:port). */
  async proxy(upstream: string): Promise<ToxicProxy> {
    const port = await freePort();
    const name = `p${port}`;
    await call(this.api, "POST", "/proxies", {
      name,
      listen: `127.0.0.1:${port}`,
      upstream,
    });
    return new ToxicProxy(this.api, name, `127.0.0.1:${port}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000).then(() => this.child.kill("SIGKILL"))]);
  }
}

async function call(api: string, method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${api}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: HTTP ${response.status} ${text}`);
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
