import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { failureMessage, type TestPlugin } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { configuration, freshBase, startPlugin } from "./plugin.js";

let plugin: TestPlugin;
let work: string;

beforeAll(async () => {
  plugin = await startPlugin();
  work = plugin.work;
  await writeFile(join(work, "payload.txt"), "payload\n");
});

afterAll(async () => {
  expect(await plugin.stop()).toBe(0);
});

it("keys that try to leave basePath are refused through the plugin, and nothing is written outside", async () => {
  const base = freshBase();
  const outside = dirname(base);
  const before = await readdir(outside);
  const client = plugin.client(configuration({ basePath: base }));
  for (const key of ["../escape.txt", "a/../../escape.txt", "a/./b", "/../escape.txt", "a//b"]) {
    const message = await failureMessage(client.save(key, join(work, "payload.txt")));
    expect(message).toContain("[invalid-key]");
  }
  for (const key of ["../", "../../etc"]) {
    expect(await failureMessage(client.delete(key))).toContain("[invalid-key]");
    expect(await failureMessage(client.list(key))).toContain("[invalid-key]");
  }
  expect(await readdir(outside)).toEqual(before);
  expect(existsSync(join(outside, "escape.txt"))).toBe(false);
});

it("a leading slash in a key stays inside basePath, and names are stored exactly as the key", async () => {
  const base = freshBase();
  const client = plugin.client(configuration({ basePath: base }));
  await client.save("/rooted.txt", join(work, "payload.txt"));
  expect(await readFile(join(base, "rooted.txt"), "utf8")).toBe("payload\n");
  const odd = "dir with space/ünï %41 #frag ?q +plus.txt";
  await client.save(odd, join(work, "payload.txt"));
  expect(await readFile(join(base, ...odd.split("/")), "utf8")).toBe("payload\n");
});

it("a relative basePath starts at the login folder", async () => {
  const client = plugin.client(configuration({ basePath: `relative-${process.pid}` }));
  await client.save("in-home.txt", join(work, "payload.txt"));
  const home = `/home/${inject("sftp").username}`;
  expect(await readFile(join(home, `relative-${process.pid}`, "in-home.txt"), "utf8")).toBe(
    "payload\n",
  );
  await rm(join(home, `relative-${process.pid}`), { recursive: true, force: true });
});
