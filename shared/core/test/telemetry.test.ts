import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { FolderEntry } from "../src/adapter.js";
import { DriverError } from "../src/errors.js";
import { withRetry } from "../src/retry.js";
import { type Telemetry, telemetryRequested, useTelemetry } from "../src/telemetry.js";
import { walkFiles } from "../src/walk.js";

const run = promisify(execFile);
const work = await mkdtemp(join(tmpdir(), "core-telemetry-"));
afterAll(() => rm(work, { recursive: true, force: true }));

/**
 * Starts a server from the built core in a fresh process and prints every
 * module it resolved from OpenTelemetry or the telemetry package.
 */
const PROBE = `
import { registerHooks } from "node:module";
const seen = [];
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    if (/@opentelemetry|\\/telemetry\\/dist\\//.test(resolved.url)) seen.push(resolved.url);
    return resolved;
  },
});
const { startServer } = await import(${JSON.stringify(new URL("../dist/serve.js", import.meta.url).href)});
const { pino } = await import("pino");
const driver = { name: "probe", config: {}, createAdapter: () => { throw new Error("unused"); } };
const server = await startServer(driver, process.argv[1], pino({ level: "silent" }));
await server.stop(0);
process.stdout.write(JSON.stringify(seen));
process.exit(0);
`;

async function modulesLoaded(env: Record<string, string>): Promise<string[]> {
  const { stdout } = await run(
    process.execPath,
    ["--input-type=module", "-e", PROBE, join(work, `${Object.keys(env).length}.sock`)],
    { env: { PATH: process.env.PATH, ...env }, cwd: import.meta.dirname },
  );
  return JSON.parse(stdout) as string[];
}

describe("telemetry", () => {
  it("is requested by the endpoint variables Argo documents, not otherwise", () => {
    expect(telemetryRequested({})).toBe(false);
    expect(telemetryRequested({ OTEL_SERVICE_NAME: "x" })).toBe(false);
    expect(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317" })).toBe(true);
    expect(telemetryRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4317" })).toBe(true);
    expect(telemetryRequested({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4317" })).toBe(true);
    expect(
      telemetryRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317",
        OTEL_SDK_DISABLED: "true",
      }),
    ).toBe(false);
  });

  it("loads nothing of OpenTelemetry without an endpoint, and loads it with one", async () => {
    expect(await modulesLoaded({})).toEqual([]);
    // The control: the probe does see the SDK when it is loaded.
    const loaded = await modulesLoaded({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    });
    expect(loaded.some((url) => url.includes("@opentelemetry/sdk-trace"))).toBe(true);
  }, 30_000);
});

/** Hooks that record what the core reports, in order. */
function recorder(): { hooks: Telemetry; events: unknown[][] } {
  const events: unknown[][] = [];
  const hooks: Telemetry = {
    enabled: true,
    withCaller: (_header, work) => work(),
    call: () => ({ run: (work) => work(), end: () => {} }),
    span: (name, attributes) => {
      events.push(["start", name, attributes]);
      return {
        run: (work) => work(),
        end: (error) => events.push(["end", name, error instanceof Error ? error.message : error]),
      };
    },
    retry: (attempt, code) => events.push(["retry", attempt, code]),
    logFields: () => ({}),
    shutdown: async () => {},
  };
  return { hooks, events };
}

describe("the core's telemetry hooks", () => {
  afterEach(() => useTelemetry(undefined));

  it("give each retried attempt a span numbered from 2, and count each retry", async () => {
    const { hooks, events } = recorder();
    useTelemetry(hooks);
    let calls = 0;
    await withRetry(
      { attempts: 5, initialDelaySeconds: 0.001, factor: 1 },
      new AbortController().signal,
      async () => {
        if (++calls < 3) throw new DriverError("transient", "HTTP 503");
      },
    );
    expect(events).toEqual([
      ["retry", 1, "transient"],
      ["start", "retry", { "artifact_driver.attempt": 2 }],
      ["end", "retry", "HTTP 503"],
      ["retry", 2, "transient"],
      ["start", "retry", { "artifact_driver.attempt": 3 }],
      ["end", "retry", undefined],
    ]);
  });

  it("give a folder walk one span that ends with its failure", async () => {
    const { hooks, events } = recorder();
    useTelemetry(hooks);
    async function* listChildren(prefix: string): AsyncGenerator<FolderEntry> {
      if (prefix === "root") yield { name: "sub", kind: "directory" };
      else throw new DriverError("unavailable", "the server went away");
    }
    const walk = Array.fromAsync(
      walkFiles(listChildren, "root", { signal: new AbortController().signal, concurrency: 2 }),
    );
    await expect(walk).rejects.toThrow("the server went away");
    expect(events).toEqual([
      ["start", "walk", { "artifact_driver.key": "root" }],
      ["end", "walk", "the server went away"],
    ]);
  });
});
