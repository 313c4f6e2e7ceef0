import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { TestPlugin } from "@argo-artifact-drivers/conformance";
import { failureMessage } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apacheBasic, backend, configuration, fresh, login, startPlugin } from "./plugin.js";

const CLIENT = pathToFileURL(
  join(import.meta.dirname, "../../../shared/client/dist/index.js"),
).href;

/** A client process that SaveStreams endless data and says so on stdout after 8 MiB. */
const SEND_FOREVER = `
const { ArtifactClient } = await import(process.env.CLIENT);
const client = new ArtifactClient(process.env.SOCKET, { pluginName: "webdav", configuration: process.env.CONFIGURATION });
let sent = 0;
async function* forever() {
  for (;;) {
    yield Buffer.alloc(1024 * 1024, 7);
    sent += 1;
    if (sent === 8) process.stdout.write("sent\\n");
  }
}
await client.saveStream(process.env.KEY, forever());
`;

/** Starts a sender and resolves once 8 MiB are on their way. */
async function startSender(socket: string, config: string, key: string): Promise<ChildProcess> {
  const sender = spawn(process.execPath, ["--input-type=module", "-e", SEND_FOREVER], {
    env: { ...process.env, SOCKET: socket, KEY: key, CONFIGURATION: config, CLIENT },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    sender.stdout?.once("data", () => resolve());
    sender.once("exit", (code) => reject(new Error(`the sender exited early with ${code}`)));
  });
  return sender;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/**
 * Uploads go to a temp name in the target collection and MOVE onto the key
 * only once the server has stored all of it: a transfer cut anywhere leaves
 * the key as it was, on Apache's disk too.
 */
describe("atomic uploads", () => {
  let plugin: TestPlugin;
  let work: string;

  beforeAll(async () => {
    plugin = await startPlugin();
    work = plugin.work;
    await writeFile(join(work, "v1.txt"), "version 1\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
  });

  it("a SaveStream cut mid-way (client killed) keeps the previous version and leaves no temp file", async () => {
    const folder = fresh("atomic");
    const key = `${folder}/artifact.bin`;
    const config = apacheBasic();
    const client = plugin.client(config);
    try {
      await client.save(key, join(work, "v1.txt"));
      await killed(await startSender(plugin.socketPath, config, key));
      // The plugin sees the broken call, aborts the PUT and deletes its temp file.
      const onDisk = join(backend().dirs.basic, folder);
      const deadline = Date.now() + 10_000;
      while ((await readdir(onDisk)).length > 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await readdir(onDisk)).toEqual(["artifact.bin"]);
      const target = join(work, fresh("loaded"));
      await client.load(key, target);
      expect(await readFile(target, "utf8")).toBe("version 1\n");
      expect(await client.list(folder)).toEqual([key]);
    } finally {
      client.close();
    }
  });

  it("a plugin killed mid-upload leaves nothing at the key", async () => {
    const folder = fresh("atomic");
    const key = `${folder}/artifact.bin`;
    const config = apacheBasic();
    const doomed = await startPlugin();
    const sender = await startSender(doomed.socketPath, config, key);
    await doomed.process.stop("SIGKILL");
    await doomed.stop();
    await killed(sender);
    // Nothing at the key on Apache's disk: at most the partial temp file (Apache
    // itself drops a PUT body that ends early), which no call shows.
    const onDisk = await readdir(join(backend().dirs.basic, folder));
    expect(onDisk.filter((name) => !/^\.artifact\.bin\.partial-[0-9a-f]{12}$/.test(name))).toEqual(
      [],
    );
    const client = plugin.client(config);
    try {
      expect(await client.isDirectory(key)).toBe(false);
      expect(await client.isDirectory(folder)).toBe(false);
      expect(await failureMessage(client.load(key, join(work, fresh("cut"))))).toMatch(
        /\[not-found\]/,
      );
      expect(await failureMessage(client.list(folder))).toMatch(/\[not-found\]/);
    } finally {
      client.close();
    }
  });

  it("an upload the server refuses leaves nothing (read-only folder, HTTP 403)", async () => {
    const client = plugin.client(
      configuration({ url: `${backend().apache}/readonly/`, ...login, retry: { attempts: 1 } }),
    );
    try {
      const key = `${fresh("atomic")}/refused.txt`;
      const message = await failureMessage(client.save(key, join(work, "v1.txt")));
      expect(message).toMatch(/MKCOL .*\/readonly\/atomic-[0-9a-f]+\/ answered HTTP 403/);
      expect(message).toMatch(/\[permission-denied\]/);
      expect(await failureMessage(client.save("top.txt", join(work, "v1.txt")))).toMatch(
        /PUT .*\/readonly\/\.top\.txt\.partial-[0-9a-f]{12} answered HTTP 403.*\[permission-denied\]/s,
      );
      expect((await readdir(backend().dirs.readonly)).sort()).toEqual(["folder", "present.txt"]);
      // Reads still work there.
      const target = join(work, fresh("read"));
      await client.load("present.txt", target);
      expect(await readFile(target, "utf8")).toBe("read only\n");
    } finally {
      client.close();
    }
  });
});
