import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DriverDefinition,
  type RunningServer,
  startServer,
} from "@argo-artifact-drivers/core";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Every failure message ends with `[code]. hint`, and the hint must send the
 * user to the side that failed: the step's local files (the artifact's
 * `path`), the storage key, or the plugin configuration. One failure per code
 * and side that the local driver can produce, through a real server and the
 * client, as Argo sees them. (`unavailable` and `transient` need a network
 * backend, and `unknown` is what no failure here should be.)
 */

// The local driver and the client depend on the core, so the core cannot
// depend on them: they are loaded from their sources when the test runs and
// typed below by what it uses. They, and this test, use the core's build.
interface Client {
  save(key: string, path: string): Promise<void>;
  load(key: string, path: string): Promise<void>;
  list(key: string): Promise<string[]>;
  openStream(key: string): AsyncIterable<Buffer>;
  close(): void;
}
interface ClientModule {
  ArtifactClient: new (
    socket: string,
    options: { pluginName: string; configuration: string },
  ) => Client;
}
const source = (path: string) => new URL(path, import.meta.url).href;

type Side = "local path" | "storage key" | "configuration";

/** Whether `hint` sends the user to `side`, and not to another one. */
function fits(hint: string, side: Side): boolean {
  const local = /`path`|\blocal\b|\blink\b/i.test(hint);
  const key = /\bkey\b/i.test(hint);
  if (side === "local path") return local && !key;
  if (side === "storage key") return key && !local;
  return /\bconfiguration\b/i.test(hint) && !local;
}

describe("each failure's hint fits the side that failed", () => {
  let work: string;
  let server: RunningServer;
  let store: string;
  /** A folder where nothing can be created: sysfs for root, a read-only folder otherwise. */
  let unwritable: string;
  const clients: Client[] = [];
  let client: (configuration?: string) => Client;

  beforeAll(async () => {
    const { driver } = (await import(source("../../../drivers/local/src/driver.ts"))) as {
      driver: DriverDefinition;
    };
    const { ArtifactClient } = (await import(source("../../client/src/index.ts"))) as ClientModule;
    work = await mkdtemp(join(tmpdir(), "hints-"));
    store = join(work, "store");
    await mkdir(store);
    if (process.getuid?.() === 0) {
      unwritable = "/sys";
    } else {
      unwritable = join(work, "read-only");
      await mkdir(unwritable);
      await chmod(unwritable, 0o555);
    }
    const socket = join(work, "socket");
    server = await startServer(driver, socket, pino({ level: "silent" }));
    client = (configuration = `root: ${store}`) => {
      const made = new ArtifactClient(socket, { pluginName: "local", configuration });
      clients.push(made);
      return made;
    };
    await writeFile(join(work, "file.txt"), "a file\n");
    await client().save("saved/file.txt", join(work, "file.txt"));
    await client().save("saved/folder/inner.txt", join(work, "file.txt"));
  });

  afterAll(async () => {
    for (const made of clients) made.close();
    await server?.stop(1000);
    if (!unwritable?.startsWith("/sys")) await chmod(unwritable, 0o755).catch(() => {});
    await rm(work, { recursive: true, force: true });
  });

  const cases: {
    title: string;
    side: Side;
    code: string;
    fail: () => Promise<unknown>;
  }[] = [
    {
      title: "Save of a local path that does not exist",
      side: "local path",
      code: "not-found",
      fail: () => client().save("new/missing", join(work, "no-such-file")),
    },
    {
      title: "Save of a folder holding a link that leaves it",
      side: "local path",
      code: "conflict",
      fail: async () => {
        const folder = join(work, "with-link");
        await mkdir(folder);
        await writeFile(join(folder, "inner.txt"), "x");
        await symlink("/etc/hostname", join(folder, "outside"));
        return client().save("new/with-link", folder);
      },
    },
    {
      title: "Save of a local path that is a socket, not a file or folder",
      side: "local path",
      code: "conflict",
      fail: () => client().save("new/socket", join(work, "socket")),
    },
    {
      title: "Load of a file into a path below a file",
      side: "local path",
      code: "conflict",
      fail: () => client().load("saved/file.txt", join(work, "file.txt", "below")),
    },
    {
      title: "Load of a directory onto a local file",
      side: "local path",
      code: "conflict",
      fail: () => client().load("saved/folder", join(work, "file.txt")),
    },
    {
      title: "Load of a file into a folder the plugin cannot write",
      side: "local path",
      code: "permission-denied",
      fail: () => client().load("saved/file.txt", join(unwritable, "hints-file")),
    },
    {
      title: "Load of a directory into a folder the plugin cannot write",
      side: "local path",
      code: "permission-denied",
      fail: () => client().load("saved/folder", join(unwritable, "hints-folder")),
    },
    {
      title: "Load of a key that does not exist",
      side: "storage key",
      code: "not-found",
      fail: () => client().load("never/saved", join(work, "loaded")),
    },
    {
      title: "ListObjects of a key that does not exist",
      side: "storage key",
      code: "not-found",
      fail: () => client().list("never/saved"),
    },
    {
      title: "OpenStream of a key that does not exist",
      side: "storage key",
      code: "not-found",
      fail: async () => {
        for await (const _ of client().openStream("never/saved")) {
          // The first frame already fails.
        }
      },
    },
    {
      title: "Save to a key below an object",
      side: "storage key",
      code: "conflict",
      fail: () => client().save("saved/file.txt/below", join(work, "file.txt")),
    },
    {
      title: "Save to storage the plugin may not write",
      side: "storage key",
      code: "permission-denied",
      fail: () => client(`root: ${unwritable}`).save("hints/file.txt", join(work, "file.txt")),
    },
    {
      title: "a key with a '..' segment",
      side: "storage key",
      code: "invalid-key",
      fail: () => client().list("saved/../file.txt"),
    },
    {
      title: "a configuration with an unknown field",
      side: "configuration",
      code: "invalid-config",
      fail: () => client(`root: ${store}\nrot: /tmp`).list("saved"),
    },
    {
      title: "a configuration naming a root folder that does not exist",
      side: "configuration",
      code: "invalid-config",
      fail: () => client(`root: ${join(work, "no-such-root")}`).list("saved"),
    },
  ];

  it.each(cases)("$title: [$code], a hint about the $side", async ({ side, code, fail }) => {
    const error = await fail().then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error, "the call must fail").toBeInstanceOf(Error);
    const message = (error as Error).message;
    const ending = /\[([a-z-]+)\]\. ([^[]+)$/.exec(message);
    expect(ending, `no "[code]. hint" ending in: ${message}`).not.toBeNull();
    expect({ code: ending?.[1], message }).toEqual({ code, message });
    expect(
      fits(ending?.[2] ?? "", side),
      `the hint does not point at the ${side}: ${message}`,
    ).toBe(true);
  });
});
