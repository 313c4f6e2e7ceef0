import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { telemetryRequested } from "../src/telemetry.js";

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
