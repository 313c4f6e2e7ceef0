import { spawn } from "node:child_process";
import { mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { expect, it } from "vitest";
import { sha256File } from "./files.js";
import { type HardeningRecord, observedMessages } from "./hardening.js";
import type { PluginProcess } from "./plugin-process.js";

/** What a driver may declare it cannot do; the kit then reports the scenario as not run, with the reason. */
export type Capability =
  /** Zero-byte objects. */
  | "empty-files"
  /** Keys with spaces, unicode, `%`, `#`, `+`. */
  | "special-characters";

/** How the kit routes a driver's backend through its fault proxy (Toxiproxy). */
export interface NetworkRoute {
  /** host:port where the backend listens (TCP). */
  upstream: string;
  /** A configuration like `configuration`'s, reaching the backend at `address` (host:port) instead. */
  configuration: (address: string) => string | Promise<string>;
  /**
   * The configuration field (seconds) after which the driver drops a
   * connection that went silent; without one, a stalled call ends when the
   * client gives up (as argo-server's request does).
   */
  silenceTimeoutField?: string;
}

export interface ConformanceOptions {
  /** The driver's name, shown in test titles. */
  driver: string;
  /** Absolute path of the driver's built entrypoint (`dist/main.js`), started as Argo starts the image; its `driver.js` beside it exports `driver`. */
  entrypoint: string;
  /** The configuration string (YAML) for the backend under test; every scenario uses keys under a fresh random prefix. */
  configuration: () => string | Promise<string>;
  /** Extra environment for the plugin process (e.g. ARTIFACT_DRIVER_SECRET_SOURCES). */
  env?: Record<string, string>;
  /** Capabilities the driver lacks, each with the reason printed in the test output. */
  lacks?: Partial<Record<Capability, string>>;
  /** Size of the large-file scenarios; at least 50 MiB. Default 56 MiB. */
  largeFileBytes?: number;
  /** Size S of the memory scenario, which compares streaming S and 4S. Default 64 MiB. */
  memoryProbeBytes?: number;
  /**
   * The driver's secret fields, for the Kubernetes Secret scenarios: the kit
   * serves `values` from a Kubernetes API stand-in and asks for a
   * configuration whose secret fields are the given `{name, key}` references.
   */
  /**
   * How to reach the backend through a TCP fault proxy, for the network-fault
   * and SIGTERM-under-throttle cases; `{ notApplicable }` (e.g. a local
   * folder) shows those cases as not run, with the reason, in the table.
   */
  network: NetworkRoute | { notApplicable: string };
  /**
   * Hardening cases this driver is known to fail, each with the reason: they
   * run as expected failures (`it.fails`, so a fix makes them fail until the
   * entry is removed) and show in the table as KNOWN ISSUE.
   */
  knownIssues?: Record<string, string>;
  kubernetesSecrets?: {
    /** Field name (as in the configuration) to its secret value. */
    values: Record<string, string>;
    configuration: (
      refs: Record<string, { name: string; key: string }>,
    ) => string | Promise<string>;
  };
}

export const MiB = 1024 * 1024;
export const SCENARIO_TIMEOUT_MS = 240_000;

/** The shared state of one driver's run, filled in by `beforeAll`; scenarios read it when they run. */
export interface Kit {
  readonly options: ConformanceOptions;
  readonly largeFileBytes: number;
  readonly memoryProbeBytes: number;
  work: string;
  configuration: string;
  plugin: PluginProcess;
  client: ArtifactClient;
  largeFile: string;
  /** A key under this run's random prefix. */
  key(name: string): string;
  /** A scenario, or a visible "not run" line with the reason when the driver lacks what it needs. */
  scenario(title: string, needs: Capability[], body: () => Promise<void>, timeoutMs?: number): void;
  /** A second plugin process of the driver on its own socket. */
  startPlugin(name: string, env?: Record<string, string>): Promise<PluginProcess>;
  /** This driver's row of the hardening table, and the secret canaries. */
  readonly hardening: HardeningRecord;
  /**
   * A scenario that is also a hardening case: its body returns the outcome
   * shown in the table (a failure is shown as FAILED with its message).
   */
  hardeningCase(
    table: string,
    title: string,
    body: () => Promise<string>,
    timeoutMs?: number,
  ): void;
  /** Saves `source` at `key`, loads it to a fresh path and checks the bytes and that nothing else was left. */
  roundTrip(source: string, key: string): Promise<void>;
}

/** Registers `title` as not run, with the reason in its title. */
export function notRun(title: string, reason: string): void {
  it.skip(`${title} [not run: ${reason}]`, () => {});
}

export function scenarioRegistrar(options: ConformanceOptions): Kit["scenario"] {
  return (title, needs, body, timeoutMs = SCENARIO_TIMEOUT_MS) => {
    const missing = needs.find((capability) => options.lacks?.[capability] !== undefined);
    if (missing) {
      notRun(title, `${options.driver} lacks ${missing}: ${options.lacks?.[missing]}`);
      return;
    }
    it(title, body, timeoutMs);
  };
}

export async function roundTrip(kit: Kit, source: string, objectKey: string): Promise<void> {
  await kit.client.save(objectKey, source);
  const into = await mkdtemp(join(kit.work, "load-"));
  const target = join(into, "artifact");
  await kit.client.load(objectKey, target);
  expect(await sha256File(target)).toBe(await sha256File(source));
  expect(await readdir(into)).toEqual(["artifact"]);
}

/** Runs the entrypoint to completion with `args`; for the command-line checks. */
export function runEntrypoint(
  entrypoint: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entrypoint, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Expects `call` to fail with a message naming `key` and matching `pattern`; returns the message. */
export async function expectFailure(
  call: Promise<unknown>,
  key: string,
  pattern: RegExp,
): Promise<string> {
  let message: string | undefined;
  try {
    await call;
  } catch (error) {
    message = error instanceof Error ? error.message : String(error);
    observedMessages.push(message);
  }
  expect(message, "the call should have failed").toBeDefined();
  expect(message).toMatch(pattern);
  expect(message).toContain(JSON.stringify(key));
  return message ?? "";
}

export const NOT_FOUND = /not.?found|nothing exists/i;
