import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { sha256File } from "../files.js";
import { openStreamFrames } from "../frames.js";
import { expectFailure, type Kit, MiB, NOT_FOUND } from "../kit.js";

/** OpenStream and SaveStream, as argo-server downloads and uploads. */
export function streamScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  /** A client process that SaveStreams endless data and says so on stdout after 8 MiB. */
  const SEND_FOREVER = `
const { ArtifactClient } = await import(process.env.CLIENT);
const client = new ArtifactClient(process.env.SOCKET, { pluginName: "conformance", configuration: process.env.CONFIGURATION });
let sent = 0;
async function* forever() {
  for (;;) {
    yield Buffer.alloc(1024 * 1024, sent % 251);
    sent += 1;
    if (sent === 8) process.stdout.write("sent\\n");
  }
}
await client.saveStream(process.env.KEY, forever());
`;
  describe("OpenStream and SaveStream", () => {
    scenario("OpenStream returns the exact bytes in frames of 1 KiB to 2 MiB", [], async () => {
      await kit.client.save(key("stream/large.bin"), kit.largeFile);
      const result = await openStreamFrames(
        kit.plugin.socketPath,
        kit.configuration,
        key("stream/large.bin"),
      );
      expect(result.error).toBe("");
      expect(result.sha256).toBe(await sha256File(kit.largeFile));
      expect(result.maxFrameBytes).toBeLessThanOrEqual(2 * MiB);
      // Tiny frames would cost a message each: every frame but the last carries at least 1 KiB.
      expect(result.dataFrames).toBeGreaterThan(1);
      expect(result.minFrameBytesButLast).toBeGreaterThanOrEqual(1024);
      expect(result.dataFrames).toBeGreaterThanOrEqual(Math.floor(kit.largeFileBytes / (2 * MiB)));
      expect(result.dataFrames).toBeLessThanOrEqual(Math.ceil(kit.largeFileBytes / 1024));
    });

    scenario("OpenStream of a missing key ends with an error naming the key", [], async () => {
      const result = await openStreamFrames(
        kit.plugin.socketPath,
        kit.configuration,
        key("stream/missing.bin"),
      );
      expect(result.error).toContain(key("stream/missing.bin"));
      expect(result.error).toMatch(/not.?found|nothing exists|does not exist/i);
    });

    scenario("GetCapabilities announces SaveStream", [], async () => {
      expect(await kit.client.capabilities()).toEqual({ supportsSaveStream: true });
    });

    scenario("SaveStream round-trips a large file written through", [], async () => {
      const sent = await kit.client.saveStream(
        key("stream/saved.bin"),
        createReadStream(kit.largeFile, { highWaterMark: 2 * MiB }),
      );
      expect(sent).toBe(kit.largeFileBytes);
      const target = join(kit.work, "stream-saved.bin");
      await kit.client.load(key("stream/saved.bin"), target);
      expect(await sha256File(target)).toBe(await sha256File(kit.largeFile));
    });

    scenario(
      "a SaveStream cut mid-way (client killed) leaves no object at the key",
      [],
      async () => {
        // The wait container dying mid-upload: the connection drops without a
        // half-close. (grpc-js clients cannot cancel without first sending
        // END_STREAM, so a killed process is the faithful cut here; Argo's Go
        // kit.client's cancel is covered by the Go interop tests.)
        const sender = spawn(process.execPath, ["--input-type=module", "-e", SEND_FOREVER], {
          env: {
            ...process.env,
            SOCKET: kit.plugin.socketPath,
            KEY: key("stream/cut.bin"),
            CONFIGURATION: kit.configuration,
            CLIENT: import.meta.resolve("@argo-artifact-drivers/client"),
          },
          stdio: ["ignore", "pipe", "inherit"],
        });
        await new Promise<void>((resolve, reject) => {
          sender.stdout.once("data", () => resolve());
          sender.once("exit", (code) => reject(new Error(`the sender exited early with ${code}`)));
        });
        sender.kill("SIGKILL");
        await new Promise((resolve) => sender.once("exit", resolve));
        // Give the kit.plugin time to see the broken connection and abort the write.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(await kit.client.isDirectory(key("stream/cut.bin"))).toBe(false);
        await expectFailure(
          kit.client.load(key("stream/cut.bin"), join(kit.work, "cut.bin")),
          key("stream/cut.bin"),
          NOT_FOUND,
        );
        expect(kit.plugin.logs.join("\n")).toMatch(/SaveStream failed/);
      },
    );
  });
}
