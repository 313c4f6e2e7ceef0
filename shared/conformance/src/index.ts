import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactClient } from "@argo-artifact-drivers/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeRandomFile } from "./files.js";
import { HardeningRecord } from "./hardening.js";
import {
  type ConformanceOptions,
  type Kit,
  MiB,
  roundTrip,
  SCENARIO_TIMEOUT_MS,
  scenarioRegistrar,
} from "./kit.js";
import { PluginProcess } from "./plugin-process.js";
import { badInputScenarios } from "./scenarios/bad-inputs.js";
import { edgeCaseScenarios } from "./scenarios/edge-cases.js";
import { failureScenarios } from "./scenarios/failures.js";
import { listingScenarios } from "./scenarios/listing.js";
import { loadScenarios } from "./scenarios/load.js";
import { networkFaultScenarios } from "./scenarios/network-faults.js";
import { processScenarios } from "./scenarios/process.js";
import { requestScenarios } from "./scenarios/requests.js";
import { secretScenarios } from "./scenarios/secrets.js";
import { shutdownScenarios } from "./scenarios/shutdown.js";
import { streamScenarios } from "./scenarios/streams.js";
import { transferScenarios } from "./scenarios/transfers.js";

export {
  benchmarkThroughput,
  type DirectTransfers,
  type ThroughputBenchmark,
} from "./bench.js";
export { sha256File, treeDigest, writeRandomFile, writeTree } from "./files.js";
export type { HardeningReport } from "./hardening.js";
export type { Capability, ConformanceOptions, NetworkRoute } from "./kit.js";
export { type KubernetesStandIn, startKubernetesStandIn } from "./kubernetes-stand-in.js";
export { PluginProcess } from "./plugin-process.js";
export {
  failureMessage,
  freePort,
  installedBackend,
  selfSignedCertificate,
  TestPlugin,
} from "./testing.js";

/**
 * Registers the conformance scenarios for one driver in the current vitest
 * file. Everything runs black-box: the driver's real entrypoint as a child
 * process on a Unix socket, driven by a real gRPC client, exactly the calls
 * Argo's executor and argo-server make (docs/argo-plugin-contract.md). The
 * failure scenarios run the same driver wrapped in the kit's fault injector
 * and look at the backend directly through the driver's own adapter.
 */
export function describeConformance(options: ConformanceOptions): void {
  const run = randomBytes(4).toString("hex");
  const kit: Kit = {
    options,
    largeFileBytes: Math.max(options.largeFileBytes ?? 56 * MiB, 50 * MiB),
    memoryProbeBytes: options.memoryProbeBytes ?? 64 * MiB,
    work: "",
    configuration: "",
    plugin: undefined as unknown as PluginProcess,
    client: undefined as unknown as ArtifactClient,
    largeFile: "",
    key: (name) => `conformance-${run}/${name}`,
    scenario: scenarioRegistrar(options),
    hardening: new HardeningRecord(options.driver),
    hardeningCase: (table, title, body, timeoutMs = SCENARIO_TIMEOUT_MS) => {
      const known = options.knownIssues?.[table];
      const run = async () => {
        try {
          kit.hardening.record(table, await body());
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          const shown = message.split("\n")[0]?.slice(0, 160);
          kit.hardening.record(
            table,
            known ? `KNOWN ISSUE (${known}): ${shown}` : `FAILED: ${shown}`,
            false,
          );
          throw error;
        }
      };
      if (known) it.fails(`[hardening: ${table}] ${title} [known issue: ${known}]`, run, timeoutMs);
      else it(`[hardening: ${table}] ${title}`, run, timeoutMs);
    },
    // Short socket paths: a Unix socket path must fit in 108 bytes.
    startPlugin: (name, env) =>
      PluginProcess.start(options.entrypoint, join(kit.work, "sockets", name, "socket"), {
        ...options.env,
        ...env,
      }),
    roundTrip: (source, key) => roundTrip(kit, source, key),
  };

  describe(`${options.driver} driver conformance`, () => {
    beforeAll(async () => {
      kit.work = await mkdtemp(join(tmpdir(), "conf-"));
      kit.configuration = await options.configuration();
      kit.hardening.canariesOf(kit.configuration, { ...process.env, ...options.env });
      for (const value of Object.values(options.kubernetesSecrets?.values ?? {})) {
        kit.hardening.canary(value);
      }
      kit.plugin = await kit.startPlugin("main");
      kit.client = kit.plugin.client(kit.configuration);
      kit.largeFile = join(kit.work, "large.bin");
      await writeRandomFile(kit.largeFile, kit.largeFileBytes);
    }, SCENARIO_TIMEOUT_MS);

    afterAll(async () => {
      kit.client?.close();
      await kit.plugin?.stop();
      // A scenario that failed before stopping its plugin must not keep the
      // test worker (and the whole test command) alive.
      await Promise.all(PluginProcess.started.map((plugin) => plugin.stop("SIGKILL")));
      await kit.hardening.write(resultsFolder(), pluginLogs());
      await rm(kit.work, { recursive: true, force: true });
    }, SCENARIO_TIMEOUT_MS);

    transferScenarios(kit);
    listingScenarios(kit);
    edgeCaseScenarios(kit);
    streamScenarios(kit);
    requestScenarios(kit);
    failureScenarios(kit);
    secretScenarios(kit);
    processScenarios(kit);
    describe("hardening", () => {
      networkFaultScenarios(kit);
      shutdownScenarios(kit);
      badInputScenarios(kit);
      loadScenarios(kit);
      // Last: every plugin of the run so far, and every error the kit received.
      it("[hardening: secret hits] no secret value in any plugin log line or error message", async () => {
        const report = await kit.hardening.write(resultsFolder(), pluginLogs());
        expect(report.secrets.canaries).toBeGreaterThan(0);
        expect(report.secrets.hits).toEqual([]);
      });
    });
  });
}

/** Where the hardening table's file goes: the package's .test-results, which scripts/test.sh collects. */
function resultsFolder(): string {
  return process.env.CONFORMANCE_RESULTS_DIR ?? join(process.cwd(), ".test-results");
}

/** The log lines of every plugin this test file started, by socket path. */
function pluginLogs(): Map<string, string[]> {
  return new Map(PluginProcess.started.map((plugin) => [plugin.socketPath, plugin.logs]));
}
