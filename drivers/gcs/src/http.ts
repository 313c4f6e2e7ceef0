import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";

/** The error a connection attempt fails with when it outlasts its timeout. */
export const CONNECT_TIMEOUT_CODE = "GCS_CONNECT_TIMEOUT";

/** The default for hosts no adapter registered (token and metadata servers). */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const timeouts = new Map<string, number>();

function hostKey(host: string | null | undefined, port: string | number | null | undefined) {
  return `${host ?? "localhost"}:${port ?? ""}`;
}

/**
 * Sets how long connections to `url`'s host may take to open (TCP connect
 * plus TLS handshake). Node sets no such limit: a dropped SYN would only
 * fail after the kernel's two minutes.
 */
export function setConnectTimeout(url: URL, ms: number): void {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  timeouts.set(hostKey(url.hostname.replace(/^\[|\]$/g, ""), port), ms);
}

interface ConnectOptions {
  host?: string | null;
  port?: string | number | null;
}

function guard(socket: Duplex, options: ConnectOptions, ready: "connect" | "secureConnect") {
  const key = hostKey(options.host, options.port);
  const ms = timeouts.get(key) ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const timer = setTimeout(() => {
    socket.destroy(
      Object.assign(new Error(`no connection to ${key} within ${ms / 1000} s`), {
        code: CONNECT_TIMEOUT_CODE,
      }),
    );
  }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once(ready, clear);
  socket.once("close", clear);
}

class HttpAgent extends http.Agent {
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    if (socket) guard(socket, options, "connect");
    return socket;
  }
}

class HttpsAgent extends https.Agent {
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    if (socket) guard(socket, options, "secureConnect");
    return socket;
  }
}

let installed = false;

/**
 * The Google SDK makes its requests through two HTTP stacks (teeny-request
 * for JSON calls and downloads, gaxios for uploads and tokens), neither of
 * which takes an agent from the caller for every request. Both fall back to
 * Node's global agents, so these are replaced, once per process, by agents
 * that bound the connection time. The plugin process serves this driver only.
 */
export function installAgents(): void {
  if (installed) return;
  installed = true;
  const options = { keepAlive: true, timeout: 5000 };
  http.globalAgent = new HttpAgent(options);
  https.globalAgent = new HttpsAgent(options);
}
