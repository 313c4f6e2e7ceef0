import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DriverError } from "@argo-artifact-drivers/core";
import type { Authenticator } from "./auth.js";
import { HttpStatusError, translate } from "./errors.js";

export interface HttpOptions {
  authenticator: Authenticator;
  /** Extra headers of every request (non-secret, from the configuration). */
  headers: Record<string, string>;
  /** PEM certificates trusted besides the system ones. */
  ca: string | undefined;
  insecureSkipVerify: boolean;
  connectTimeoutMs: number;
  /** How long a request may wait for the server's next bytes. */
  idleTimeoutMs: number;
  /** Sockets kept per server: the core bounds concurrency, this only caps it. */
  maxSockets: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A small replayable body (a PROPFIND document). */
  body?: string;
  signal: AbortSignal;
}

export interface StreamRequestOptions {
  headers?: Record<string, string>;
  body: Readable;
  /** Sent as Content-Length when known; otherwise the body goes chunked. */
  size?: number;
  signal: AbortSignal;
}

/** A response whose body has been read: metadata operations only. */
export interface TextResponse {
  status: number;
  statusText: string;
  headers: IncomingMessage["headers"];
  text: string;
}

/**
 * A digest challenge older than this is renewed before a streamed upload,
 * which cannot be sent twice: its nonce must not go stale on the way (Apache
 * keeps nonces 300 s by default).
 */
const DIGEST_FRESHNESS_MS = 10_000;
/** How long a cancelled upload whose body was all sent waits for the server's answer. */
const SETTLE_AFTER_CANCEL_MS = 5_000;
/** Error bodies are read for a server message, never more than this. */
const ERROR_BODY_BYTES = 16 * 1024;

/**
 * The one place requests are made: Node's http(s) with keep-alive sockets,
 * the configured authentication (answering digest challenges, replaying only
 * bodies that can be replayed), timeouts and cancellation. A call resolves
 * only once the server has answered, uploads included.
 */
export class Http {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;

  constructor(
    private readonly base: URL,
    private readonly options: HttpOptions,
  ) {
    // With an agent timeout, Node also honours the server's `Keep-Alive: timeout`
    // hint (less a second), so an idle socket is dropped before the server
    // closes it rather than reused as it does (Apache keeps sockets 5 s).
    const common = {
      keepAlive: true,
      maxSockets: options.maxSockets,
      scheduling: "lifo" as const,
      timeout: options.idleTimeoutMs,
    };
    if (base.protocol === "https:") {
      this.agent = new HttpsAgent({
        ...common,
        ca: options.ca,
        rejectUnauthorized: !options.insecureSkipVerify,
      });
      this.send = httpsRequest;
    } else {
      this.agent = new HttpAgent(common);
      this.send = httpRequest;
    }
  }

  /** A bodyless or small-bodied request; its response body is read as text. */
  async request(method: string, url: URL, options: RequestOptions): Promise<TextResponse> {
    for (let attempt = 0; ; attempt++) {
      const { req, response } = this.open(method, url, options.headers, options.signal);
      req.end(options.body);
      const res = await response;
      if (res.statusCode === 401 && attempt === 0 && this.retryAfterChallenge(res)) {
        res.resume();
        continue;
      }
      return textResponse(method, url, res);
    }
  }

  /**
   * Uploads `body` and resolves once the server has answered. The body is
   * sent once: a digest challenge is renewed beforehand instead of answered
   * afterwards, and a failure mid-way is the caller's to retry whole.
   */
  async upload(method: string, url: URL, options: StreamRequestOptions): Promise<TextResponse> {
    if (this.options.authenticator.needsChallenge(DIGEST_FRESHNESS_MS)) {
      await this.renewChallenge(options.signal);
    }
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      ...options.headers,
    };
    if (options.size !== undefined) headers["Content-Length"] = String(options.size);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        done(null, chunk);
      },
    });
    // A server that has a PUT's whole body completes it even when the client
    // goes away, so cancelling then would let the core's clean-up DELETE of
    // the temp name arrive first and the PUT land after it (a leftover temp
    // in a full test run). A cancel stops a body still being sent; once it
    // is sent, the server's answer is awaited, for SETTLE_AFTER_CANCEL_MS at most.
    options.signal.throwIfAborted();
    const control = new AbortController();
    let bodySent = false;
    const onCancel = () => {
      if (!bodySent) control.abort(options.signal.reason);
      else setTimeout(() => control.abort(options.signal.reason), SETTLE_AFTER_CANCEL_MS).unref();
    };
    options.signal.addEventListener("abort", onCancel, { once: true });
    try {
      const { req, response } = this.open(method, url, headers, control.signal);
      const sending = pipeline(options.body, counter, req);
      sending.then(
        () => {
          bodySent = true;
        },
        () => undefined,
      );
      const first = await Promise.race([
        response.then((res) => ({ res })),
        sending.then(
          () => ({ sent: true }),
          (error: unknown) => ({ error }),
        ),
      ]).catch((error: unknown) => ({ error }));
      if ("error" in first) {
        req.destroy();
        response.catch(() => undefined);
        throw translate(first.error, method, url.href);
      }
      let res: IncomingMessage;
      if ("res" in first) {
        res = first.res;
        if (statusOk(res.statusCode)) {
          // Accepted before the body ended: the count below tells whether all of it arrived.
          await sending.catch((error: unknown) => {
            res.destroy();
            throw translate(error, method, url.href);
          });
        } else {
          // Refused before the body ended (wrong credentials, too large): stop sending.
          sending.catch(() => undefined);
          const refused = await textResponse(method, url, res).catch((error: unknown) => {
            req.destroy();
            throw error;
          });
          req.destroy();
          return refused;
        }
      } else {
        res = await response;
      }
      const answer = await textResponse(method, url, res);
      if (statusOk(answer.status) && options.size !== undefined && sent !== options.size) {
        throw new DriverError(
          "transient",
          `${method} ${url.href} sent ${sent} bytes, ${options.size} expected: the source changed during the upload`,
        );
      }
      return answer;
    } finally {
      options.signal.removeEventListener("abort", onCancel);
    }
  }

  /** A GET whose body is returned as a stream; errors, timeouts and `signal` destroy it. */
  async download(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      const { req, response } = this.open("GET", url, undefined, signal);
      req.end();
      const res = await response;
      if (res.statusCode === 401 && attempt === 0 && this.retryAfterChallenge(res)) {
        res.resume();
        continue;
      }
      if (res.statusCode !== 200) {
        const answer = await textResponse("GET", url, res);
        throw statusError("GET", url, answer);
      }
      return res;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /** Asks for a fresh digest challenge: an unauthenticated request is answered with a new nonce. */
  private async renewChallenge(signal: AbortSignal): Promise<void> {
    const { req, response } = this.open("PROPFIND", this.base, { Depth: "0" }, signal, false);
    req.end();
    const res = await response;
    res.resume();
    if (res.statusCode === 401) this.retryAfterChallenge(res);
  }

  private retryAfterChallenge(response: IncomingMessage): boolean {
    return this.options.authenticator.challenged(
      response.headersDistinct["www-authenticate"] ?? [],
    );
  }

  /**
   * Starts one request with the configured headers and authentication, a
   * connect timeout on new sockets and an idle timeout. `response` settles
   * with the answer or a translated error; the caller sends the body.
   */
  private open(
    method: string,
    url: URL,
    extraHeaders: Record<string, string> | undefined,
    signal: AbortSignal,
    authenticate = true,
  ): { req: ClientRequest; response: Promise<IncomingMessage> } {
    signal.throwIfAborted();
    const headers: Record<string, string> = { ...this.options.headers, ...extraHeaders };
    const authorization = authenticate
      ? this.options.authenticator.header(method, url.pathname + url.search)
      : undefined;
    if (authorization) headers.Authorization = authorization;
    const { connectTimeoutMs, idleTimeoutMs } = this.options;
    const req = this.send(url, {
      method,
      headers,
      agent: this.agent,
      timeout: idleTimeoutMs,
      signal,
    });
    req.once("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        req.destroy(
          new DriverError(
            "unavailable",
            `cannot connect to ${url.origin} within ${connectTimeoutMs / 1000} s; check \`url\` and that the server is reachable from the pod`,
          ),
        );
      }, connectTimeoutMs);
      socket.once("connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    req.on("timeout", () => {
      req.destroy(
        new DriverError(
          "transient",
          `${method} ${url.href}: the server sent nothing for ${idleTimeoutMs / 1000} s`,
        ),
      );
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", (error) => reject(translate(error, method, url.href)));
    });
    return { req, response };
  }
}

/** 2xx: what every operation here accepts. */
export function statusOk(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

async function textResponse(method: string, url: URL, res: IncomingMessage): Promise<TextResponse> {
  const status = res.statusCode ?? 0;
  const text = await readText(
    res,
    statusOk(status) ? Number.POSITIVE_INFINITY : ERROR_BODY_BYTES,
  ).catch((error: unknown) => {
    throw translate(error, method, url.href);
  });
  return { status, statusText: res.statusMessage ?? "", headers: res.headers, text };
}

/** The error of a response whose status the operation cannot use. */
export function statusError(method: string, url: URL, answer: TextResponse): HttpStatusError {
  return new HttpStatusError(
    method,
    url.href,
    answer.status,
    answer.statusText,
    serverMessage(answer.text),
  );
}

/** Sabre (Nextcloud, ownCloud) explains refusals in `<s:message>`; other servers send HTML pages. */
function serverMessage(text: string): string {
  const match = /<(?:\w+:)?message[^>]*>([^<]{1,300})<\/(?:\w+:)?message>/.exec(text);
  return match ? (match[1] as string).trim() : "";
}

/** The body as text, keeping at most `limit` bytes (the rest is read and dropped, so the socket can be reused). */
async function readText(response: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    if (length < limit) {
      chunks.push(chunk);
      length += chunk.length;
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}
