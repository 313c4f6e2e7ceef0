import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DriverError } from "@argo-artifact-drivers/core";
import { afterEach, describe, expect, it } from "vitest";
import { authenticator } from "../src/auth.js";
import { translate } from "../src/errors.js";
import { Http } from "../src/http.js";

let server: Server | undefined;

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/dav/`);
}

function client(base: URL): Http {
  return new Http(base, {
    authenticator: authenticator({ kind: "none" }),
    headers: {},
    ca: undefined,
    insecureSkipVerify: false,
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 5_000,
    maxSockets: 4,
  });
}

describe("connections the server drops", () => {
  it("a connection closed under an upload's body is transient, so the core retries the upload", async () => {
    // A real HTTP server that drops the socket once the body has started, as a
    // server timing out a reused keep-alive socket does.
    const base = await listen((request) => {
      request.once("data", () => request.socket.destroy());
    });
    const http = client(base);
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 64; i++) {
          yield Buffer.alloc(64 * 1024, i);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
    );
    const failure = await http
      .upload("PUT", new URL("file.bin", base), {
        body,
        signal: AbortSignal.timeout(10_000),
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    http.close();
    expect(failure).toBeInstanceOf(DriverError);
    expect((failure as DriverError).code).toBe("transient");
    expect((failure as DriverError).message).toMatch(
      /PUT http:\/\/127\.0\.0\.1:\d+\/dav\/file\.bin/,
    );
  });

  it("a request stream closed under its body (Node's premature close) is transient too", async () => {
    // Which error wins when a socket drops mid-body depends on timing: the
    // response's reset, or the body pipeline's premature close. Both must retry.
    const destination = new PassThrough();
    const sending = pipeline(
      Readable.from([Buffer.alloc(1024)], { objectMode: false }),
      destination,
    );
    destination.destroy();
    const closed = await sending.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((closed as { code?: string }).code).toBe("ERR_STREAM_PREMATURE_CLOSE");
    const translated = translate(closed, "PUT", "http://127.0.0.1:1/dav/file.bin");
    expect(translated.code).toBe("transient");
    expect(translated.message).toContain("PUT http://127.0.0.1:1/dav/file.bin");
  });
});

describe("a cancelled upload", () => {
  // A real HTTP server that, like Apache, finishes a PUT whose whole body it
  // has, after a moment, whether or not the client is still there.
  async function slowlyStoring(storeMs: number) {
    const stored: number[] = [];
    const base = await listen((request, response) => {
      request.resume();
      request.once("end", () => {
        setTimeout(() => {
          stored.push(Date.now());
          response.writeHead(201).end();
        }, storeMs);
      });
    });
    return { base, stored };
  }

  it("once its body is sent, ends only after the server has answered, so a clean-up comes after the write", async () => {
    const { base, stored } = await slowlyStoring(300);
    const cancel = new AbortController();
    const upload = client(base).upload("PUT", new URL("temp.bin", base), {
      body: Readable.from([Buffer.from("small file")]),
      size: 10,
      signal: cancel.signal,
    });
    // The body is a few bytes: it is on the wire well before this.
    await new Promise((resolve) => setTimeout(resolve, 50));
    cancel.abort(new Error("the call was cancelled"));
    await upload.catch(() => undefined);
    const settled = Date.now();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toBeLessThanOrEqual(settled);
  });

  it("while its body is still being sent, stops at once", async () => {
    const { base, stored } = await slowlyStoring(300);
    const cancel = new AbortController();
    const body = new PassThrough();
    body.write(Buffer.alloc(1024));
    const upload = client(base).upload("PUT", new URL("temp.bin", base), {
      body,
      size: 1024 * 1024,
      signal: cancel.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cancelled = Date.now();
    cancel.abort(new Error("the call was cancelled"));
    await expect(upload).rejects.toThrow();
    expect(Date.now() - cancelled).toBeLessThan(200);
    expect(stored).toEqual([]);
  });
});
