import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DriverDefinition, startServer } from "@argo-artifact-drivers/core";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";

// The local driver and the client depend on the core: loaded from their sources (see hints.test.ts).
const source = (path: string) => new URL(path, import.meta.url).href;
interface ClientModule {
  ArtifactClient: new (
    socket: string,
    options: { pluginName: string; configuration: string },
  ) => { isDirectory(key: string): Promise<boolean>; close(): void };
}

let work: string;
let local: DriverDefinition;
let ArtifactClient: ClientModule["ArtifactClient"];

beforeAll(async () => {
  ({ driver: local } = (await import(source("../../../drivers/local/src/driver.ts"))) as {
    driver: DriverDefinition;
  });
  ({ ArtifactClient } = (await import(source("../../client/src/index.ts"))) as ClientModule);
  work = await mkdtemp(join(tmpdir(), "startup-"));
});
afterAll(() => rm(work, { recursive: true, force: true }));

it("preloads the driver's SDK once the socket is bound, before any call", async () => {
  const events: string[] = [];
  const driver: DriverDefinition = {
    ...local,
    preload: async () => {
      events.push("preload started");
      await new Promise((resolve) => setTimeout(resolve, 50));
      events.push("preload done");
    },
    createAdapter: (config, context) => {
      events.push("adapter created");
      return local.createAdapter(config, context);
    },
  };
  const socket = join(work, "preloaded");
  const server = await startServer(driver, socket, pino({ level: "silent" }));
  // startServer returns once the preload is done, with no call made.
  expect(events).toEqual(["preload started", "preload done"]);
  const client = new ArtifactClient(socket, {
    pluginName: "local",
    configuration: `root: ${work}`,
  });
  try {
    expect(await client.isDirectory("missing")).toBe(false);
    expect(events).toEqual(["preload started", "preload done", "adapter created"]);
  } finally {
    client.close();
    await server.stop(1000);
  }
});

it("serves when the preload fails, and says so", async () => {
  const lines: string[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
  const driver: DriverDefinition = {
    ...local,
    preload: () => {
      throw new Error("module not found");
    },
  };
  const socket = join(work, "failed");
  const server = await startServer(driver, socket, logger);
  const client = new ArtifactClient(socket, {
    pluginName: "local",
    configuration: `root: ${work}`,
  });
  try {
    expect(await client.isDirectory("missing")).toBe(false);
    const warning = lines.find((line) => line.includes("preloading the driver's SDK failed"));
    expect(warning).toMatch(/"level":40/);
    expect(warning).toMatch(/module not found/);
  } finally {
    client.close();
    await server.stop(1000);
  }
});
