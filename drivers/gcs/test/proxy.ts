import { once } from "node:events";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";

/** One request as the proxy saw it. */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The first 64 KiB of the request body (metadata of uploads), as text. */
  body: string;
  /** Status the client got (0 when the connection was cut). */
  status: number;
}

const RECORDED_BODY_BYTES = 64 * 1024;

/** What the proxy does to one request instead of forwarding it faithfully. */
export type Fault =
  /** Answer with this status and a GCS-shaped JSON error, without forwarding. */
  | { kind: "status"; status: number; message?: string }
  /** Forward the request body, but cut both connections after this many body bytes. */
  | { kind: "cut-upload"; afterBytes: number }
  /** Forward, then flip one byte of the response body past `atByte`. */
  | { kind: "corrupt-download"; atByte: number }
  /** Forward, then cut the connection after this many response body bytes. */
  | { kind: "cut-download"; afterBytes: number };

/**
 * An HTTP proxy in front of fake-gcs-server that records every request and
 * injects the failures an emulator never produces by itself: error statuses,
 * broken uploads and downloads, bytes flipped in transit. The plugin talks to
 * it through `endpoint`, as to any private GCS endpoint.
 */
export class FaultProxy {
  readonly exchanges: Exchange[] = [];
  /** Decides, per request, whether to break it; one fault is used once unless `fault` keeps returning it. */
  fault: ((exchange: Exchange) => Fault | undefined) | undefined;
  readonly endpoint: string;
  private readonly server: Server;
  private readonly upstream: URL;
  private readonly sockets = new Set<Socket>();

  private constructor(server: Server, upstream: URL, endpoint: string) {
    this.server = server;
    this.upstream = upstream;
    this.endpoint = endpoint;
  }

  static async start(target: string): Promise<FaultProxy> {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    const proxy = new FaultProxy(server, new URL(target), `http://127.0.0.1:${address.port}`);
    server.on("connection", (socket: Socket) => {
      proxy.sockets.add(socket);
      socket.once("close", () => proxy.sockets.delete(socket));
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => proxy.handle(req, res));
    return proxy;
  }

  /** Requests whose URL contains `part`. */
  matching(part: string): Exchange[] {
    return this.exchanges.filter((exchange) => exchange.url.includes(part));
  }

  clear(): void {
    this.exchanges.length = 0;
    this.fault = undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const exchange: Exchange = {
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: req.headers,
      body: "",
      status: 0,
    };
    this.exchanges.push(exchange);
    const fault = this.fault?.(exchange);
    if (fault?.kind === "status") {
      req.resume();
      const body = JSON.stringify({
        error: { code: fault.status, message: fault.message ?? `injected ${fault.status}` },
      });
      exchange.status = fault.status;
      res.writeHead(fault.status, { "content-type": "application/json" }).end(body);
      return;
    }
    const headers = { ...req.headers, host: this.upstream.host };
    const forward = request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers,
      },
      (answer) => {
        exchange.status = answer.statusCode ?? 0;
        // Resumable sessions continue at the Location the emulator names: keep them on the proxy.
        const location = answer.headers.location;
        if (location?.startsWith(this.upstream.origin)) {
          answer.headers.location = this.endpoint + location.slice(this.upstream.origin.length);
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        let seen = 0;
        answer.on("data", (chunk: Buffer) => {
          const start = seen;
          seen += chunk.length;
          if (fault?.kind === "corrupt-download" && start <= fault.atByte && fault.atByte < seen) {
            const copy = Buffer.from(chunk);
            copy[fault.atByte - start] = (copy[fault.atByte - start] ?? 0) ^ 0xff;
            res.write(copy);
            return;
          }
          if (fault?.kind === "cut-download" && seen > fault.afterBytes) {
            res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - start)));
            answer.destroy();
            res.socket?.destroy();
            return;
          }
          res.write(chunk);
        });
        answer.on("end", () => res.end());
        answer.on("error", () => res.socket?.destroy());
      },
    );
    forward.on("error", () => res.socket?.destroy());
    let sent = 0;
    req.on("data", (chunk: Buffer) => {
      if (sent < RECORDED_BODY_BYTES) {
        exchange.body += chunk.subarray(0, RECORDED_BODY_BYTES - sent).toString("latin1");
      }
      sent += chunk.length;
      if (fault?.kind === "cut-upload" && sent > fault.afterBytes) {
        forward.destroy();
        req.socket.destroy();
        return;
      }
      if (!forward.write(chunk)) {
        req.pause();
        forward.once("drain", () => req.resume());
      }
    });
    req.on("end", () => forward.end());
  }
}
