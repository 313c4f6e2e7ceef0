import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { PluginProcess } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, expect, it } from "vitest";

/** grpcurl, installed into .tools/go/bin by scripts/test.sh (a real grpc-go reflection client). */
const GRPCURL = join(import.meta.dirname, "../../../.tools/go/bin/grpcurl");

let work: string;
let plugin: PluginProcess;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "reflection-"));
  plugin = await PluginProcess.start(
    join(import.meta.dirname, "../dist/main.js"),
    join(work, "socket"),
  );
});

afterAll(async () => {
  await plugin.stop();
  await rm(work, { recursive: true, force: true });
});

async function retry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

it("answers grpcurl through server reflection", async () => {
  expect(existsSync(GRPCURL), `${GRPCURL} is missing: run scripts/test.sh, which installs it`).toBe(
    true,
  );
  const grpcurl = (...args: string[]) =>
    promisify(execFile)(GRPCURL, ["-plaintext", "-unix", plugin.socketPath, ...args]);
  // Reflection is registered just after the socket appears (it is not on Argo's path).
  const listed = await retry(() => grpcurl("list"));
  expect(listed.stdout.trim()).toBe("artifact.ArtifactService");
  const described = (await grpcurl("describe", "artifact.ArtifactService")).stdout;
  for (const rpc of [
    "Load",
    "Save",
    "Delete",
    "ListObjects",
    "IsDirectory",
    "OpenStream",
    "SaveStream",
    "GetCapabilities",
  ]) {
    expect(described).toMatch(new RegExp(`rpc ${rpc} \\(`));
  }
  const caps = await grpcurl("artifact.ArtifactService/GetCapabilities");
  expect(JSON.parse(caps.stdout)).toEqual({ supports_save_stream: true });
});
