import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { runArgoInterop } from "../argo-interop.js";
import { sha256File, writeRandomFile } from "../files.js";
import { openStreamFrames } from "../frames.js";
import { type Kit, MiB, runEntrypoint } from "../kit.js";

/** The process as Argo runs it, and Argo's own Go client. */
export function processScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  describe("Argo's own Go client", () => {
    scenario(
      "passes the executor, garbage collection, UI and SaveStream flows of shared/interop-go",
      [],
      async () => {
        const run = await runArgoInterop({
          name: kit.options.driver,
          entrypoint: kit.options.entrypoint,
          configuration: kit.configuration,
          env: kit.options.env,
        });
        const tail = run.output.split("\n").slice(-60).join("\n");
        expect(run.code, `go test failed:\n${tail}`).toBe(0);
        for (const test of [
          "TestArgoClient",
          "TestSaveStream",
          "TestSocketAppearsWhileArgoPolls",
          "TestPluginReplacesStaleSocket",
          "TestTelemetry",
        ]) {
          expect(run.output).toContain(`--- PASS: ${test} `);
        }
        console.log(
          `[${kit.options.driver}] ${run.output.split("\n").filter((line) => /^\s*--- PASS/.test(line)).length} Go subtests passed`,
        );
      },
      900_000,
    );
  });

  describe("process", () => {
    scenario("a wrong number of arguments prints usage and exits non-zero", [], async () => {
      for (const args of [[], ["a.sock", "extra"]]) {
        const result = await runEntrypoint(kit.options.entrypoint, args);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/usage: .*SOCKET_PATH/);
      }
      const help = await runEntrypoint(kit.options.entrypoint, ["--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/ARTIFACT_DRIVER_SECRET_SOURCES/);
    });

    scenario("replaces a stale socket file left by a killed plugin", [], async () => {
      const first = await kit.startPlugin("stale");
      await first.stop("SIGKILL");
      expect(existsSync(first.socketPath)).toBe(true);
      const second = await kit.startPlugin("stale");
      const fresh = second.client(kit.configuration);
      try {
        expect(await fresh.capabilities()).toEqual({ supportsSaveStream: true });
      } finally {
        fresh.close();
        await second.stop();
      }
    });

    scenario("creates a missing socket folder", [], async () => {
      const nested = await kit.startPlugin("missing/deeper/folder");
      const fresh = nested.client(kit.configuration);
      try {
        expect(await fresh.isDirectory(key("nothing-here"))).toBe(false);
      } finally {
        fresh.close();
        await nested.stop();
      }
    });

    scenario(
      "peak memory does not grow with the artifact's size (streaming S vs 4S)",
      [],
      async () => {
        const small = join(kit.work, "memory-small.bin");
        const large = join(kit.work, "memory-large.bin");
        await writeRandomFile(small, kit.memoryProbeBytes);
        await writeRandomFile(large, 4 * kit.memoryProbeBytes);
        await kit.client.save(key("memory/small.bin"), small);
        await kit.client.save(key("memory/large.bin"), large);

        async function peakWhileStreaming(name: string, source: string): Promise<number> {
          const probe = await kit.startPlugin(`memory-${name}`);
          const probeClient = probe.client(kit.configuration);
          try {
            const streamed = await openStreamFrames(
              probe.socketPath,
              kit.configuration,
              key(`memory/${name}.bin`),
            );
            expect(streamed.sha256).toBe(await sha256File(source));
            await probeClient.saveStream(
              key(`memory/${name}-copy.bin`),
              createReadStream(source, { highWaterMark: 2 * MiB }),
            );
            await probeClient.load(
              key(`memory/${name}.bin`),
              join(kit.work, `memory-${name}-loaded.bin`),
            );
            return await probe.peakRss();
          } finally {
            probeClient.close();
            await probe.stop();
          }
        }
        const peakSmall = await peakWhileStreaming("small", small);
        const peakLarge = await peakWhileStreaming("large", large);
        const growth = peakLarge - peakSmall;
        console.log(
          `[${kit.options.driver}] peak RSS streaming ${kit.memoryProbeBytes / MiB} MiB: ${Math.round(peakSmall / MiB)} MiB; ${(4 * kit.memoryProbeBytes) / MiB} MiB: ${Math.round(peakLarge / MiB)} MiB`,
        );
        // Buffering the artifact would add about 3S; garbage collection
        // timing alone moves the peak by tens of MiB, so allow up to S.
        expect(growth).toBeLessThan(kit.memoryProbeBytes);
      },
    );
  });
}
