import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, constants } from "node:http2";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import {
  allowResetsAfterCalls,
  IDLE_CONNECTION_MS,
  serverOptions,
  widenReceiveWindow,
} from "../src/server-options.js";

describe("the HTTP/2 receive window", () => {
  const folder = mkdtemp(join(tmpdir(), "serve-test-"));
  afterAll(async () => rm(await folder, { recursive: true, force: true }));

  it("is widened through grpc-js's internals (fails when a grpc-js upgrade changes them)", async () => {
    const server = new Server();
    const socket = join(await folder, "socket");
    await new Promise<void>((done, fail) =>
      server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (error) =>
        error ? fail(error) : done(),
      ),
    );
    const warnings: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(line) });
    try {
      expect(widenReceiveWindow(server, logger)).toBe(true);
      expect(warnings).toEqual([]);
    } finally {
      server.forceShutdown();
    }
  });

  it("warns visibly when those internals are missing", () => {
    const warnings: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => warnings.push(line) });
    expect(widenReceiveWindow({} as Server, logger)).toBe(false);
    expect(warnings.join("")).toMatch(/"level":40.*receive window/);
  });
});

describe("the HTTP/2 stream reset limit", () => {
  it("is set through grpc-js's internals before binding (fails when a grpc-js upgrade changes them)", () => {
    const server = new Server();
    const warnings: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => warnings.push(line) });
    expect(allowResetsAfterCalls(server, logger)).toBe(true);
    expect(warnings).toEqual([]);
    // What grpc-js hands to http2.createServer in bindAsync.
    const options = (server as unknown as { commonServerOptions: Record<string, unknown> })
      .commonServerOptions;
    expect(options).toMatchObject({ streamResetBurst: 10_000, streamResetRate: 10_000 });
  });

  it("warns visibly when those internals are missing", () => {
    const warnings: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => warnings.push(line) });
    expect(allowResetsAfterCalls({} as Server, logger)).toBe(false);
    expect(warnings.join("")).toMatch(/"level":40.*stream resets/);
  });
});

describe("idle connections", () => {
  const folder = mkdtemp(join(tmpdir(), "serve-test-"));
  afterAll(async () => rm(await folder, { recursive: true, force: true }));

  // argo-server opens a connection per artifact request and never closes it.
  it("are closed by the server once idle for the configured time", async () => {
    const server = new Server(serverOptions(300));
    const socket = join(await folder, "socket");
    await new Promise<void>((done, fail) =>
      server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (error) =>
        error ? fail(error) : done(),
      ),
    );
    try {
      const session = connect("http://localhost", { createConnection: () => netConnect(socket) });
      session.on("error", () => undefined);
      const started = performance.now();
      const [code] = (await once(session, "goaway", { signal: AbortSignal.timeout(5000) })) as [
        number,
      ];
      expect(code).toBe(constants.NGHTTP2_NO_ERROR);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      session.destroy();
    } finally {
      server.forceShutdown();
    }
  });

  it("default to a minute", () => {
    expect(serverOptions()["grpc.max_connection_idle_ms"]).toBe(IDLE_CONNECTION_MS);
    expect(IDLE_CONNECTION_MS).toBe(60_000);
  });
});
