import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request that went through the proxy, with when and how it ended. */
export interface Exchange {
  method: string;
  path: string;
  query: URLSearchParams;
  range: string | undefined;
  started: number;
  ended?: number;
  /** `answered`: a whole answer went back; `closed`: the plugin hung up first (an aborted request). */
  outcome?: "answered" | "closed";
}

/** What to do with a request: pass it on (after `delayMs`), or answer with an S3 error (after `delayMs`, if given). */
export type Fault =
  | { delayMs: number }
  | { status: number; code: string; delayMs?: number }
  | undefined;

/**
 * An HTTP proxy in front of moto that can fail or stall chosen requests and
 * records every exchange, to see what the plugin sends when a part or a range
 * fails: retries, aborted siblings and what runs after. The Host header is
 * passed on as it is, so request signatures stay valid.
 */
export class FaultProxy {
  readonly exchanges: Exchange[] = [];
  /** Decides each request's fault; earlier requests are in `exchanges`. */
  rule: (exchange: Exchange) => Fault = () => undefined;

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const upstream = new URL(target);
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const proxy = new FaultProxy(server, `http://127.0.0.1:${port}`);
    server.on("request", (incoming, answer) => {
      const url = new URL(incoming.url ?? "/", "http://proxy");
      const exchange: Exchange = {
        method: incoming.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        range: incoming.headers.range,
        started: Date.now(),
      };
      proxy.exchanges.push(exchange);
      answer.on("close", () => {
        exchange.ended = Date.now();
        exchange.outcome = answer.writableFinished ? "answered" : "closed";
      });
      const fault = proxy.rule(exchange);
      if (fault && "status" in fault) {
        incoming.resume();
        const refuse = () => {
          if (answer.destroyed) return;
          answer.writeHead(fault.status, { "content-type": "application/xml" });
          answer.end(
            `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`,
          );
        };
        const timer = setTimeout(refuse, fault.delayMs ?? 0);
        answer.on("close", () => clearTimeout(timer));
        return;
      }
      // The proxy has answered 100-continue already; moto gets the body at once.
      const { expect: _, ...headers } = incoming.headers;
      const forward = (held: Buffer[]) => {
        if (answer.destroyed) return;
        const outgoing = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: incoming.method,
            path: incoming.url,
            headers,
          },
          (response) => {
            answer.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(answer);
          },
        );
        outgoing.on("error", () => answer.destroy());
        answer.on("close", () => outgoing.destroy());
        for (const chunk of held) outgoing.write(chunk);
        if (incoming.readableEnded) outgoing.end();
        else incoming.pipe(outgoing);
      };
      if (!fault) {
        forward([]);
        return;
      }
      // A stalled request's body is read meanwhile: an unread socket would
      // not notice the plugin hanging up.
      const held: Buffer[] = [];
      const hold = (chunk: Buffer) => held.push(chunk);
      incoming.on("data", hold);
      const timer = setTimeout(() => {
        incoming.off("data", hold);
        forward(held);
      }, fault.delayMs);
      answer.on("close", () => clearTimeout(timer));
    });
    return proxy;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }
}
