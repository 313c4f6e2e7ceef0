import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { TestPlugin } from "@argo-artifact-drivers/conformance";
import { failureMessage } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apacheBasic, backend, fresh, startPlugin } from "./plugin.js";

/** Every file below `dir`, as paths relative to it. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * Keys that try to leave the configured collection with encodings the core's
 * key check cannot see (`%2e%2e`, `%2f`): each must stay a literal name under
 * the base, on Apache's disk as well as through the plugin. Backslashes never
 * get that far: the core refuses them (the driver would still encode them,
 * see paths.test.ts).
 */
describe("keys never leave url", () => {
  let plugin: TestPlugin;
  let source: string;
  const tricks = [
    "%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "..%2f..%2f..%2foutside%2fsecret.txt",
    "%2E%2E%5C%2E%2E%5Coutside%5Csecret.txt",
    ";%00/x.txt",
    "q?x=%2e%2e%2fy#..txt",
  ];

  beforeAll(async () => {
    plugin = await startPlugin();
    source = join(plugin.work, "artifact.txt");
    await writeFile(source, "inside\n");
  });

  afterAll(async () => {
    expect(await plugin.stop()).toBe(0);
  });

  it("keys with backslashes are refused before anything reaches the server", async () => {
    const client = plugin.client(apacheBasic(`${fresh("keys")}/`));
    try {
      for (const trick of ["a\\..\\..\\outside\\secret.txt", "..\\\\..\\\\escaped.txt"]) {
        expect(await failureMessage(client.save(trick, source))).toMatch(
          /contains a backslash.*\[invalid-key\]/s,
        );
      }
    } finally {
      client.close();
    }
  });

  it("reading through encoded tricks finds nothing outside", async () => {
    const prefix = fresh("keys");
    const client = plugin.client(apacheBasic(`${prefix}/deeper/`));
    try {
      for (const trick of tricks) {
        const message = await failureMessage(client.load(trick, `${source}.${fresh("read")}`));
        expect(message).toMatch(/\[not-found\]/);
        expect(message).not.toContain("outside the DAV folders");
      }
    } finally {
      client.close();
    }
  });

  it("saving stores each key as literal names under the base, and nothing elsewhere", async () => {
    const prefix = fresh("keys");
    const before = await filesBelow(join(backend().dirs.basic, ".."));
    const outsideBefore = await filesBelow(backend().outside);
    const missingBase = plugin.client(apacheBasic(`${prefix}/`));
    try {
      expect(await failureMessage(missingBase.save("first.txt", source))).toMatch(
        /the collection of url .* does not exist.*\[not-found\]/s,
      );
    } finally {
      missingBase.close();
    }
    const parent = plugin.client(apacheBasic());
    try {
      await parent.save(`${prefix}/first.txt`, source);
    } finally {
      parent.close();
    }
    const scoped = plugin.client(apacheBasic(`${prefix}/`));
    try {
      for (const trick of tricks) {
        await scoped.save(trick, source);
        const target = `${source}.${fresh("loaded")}`;
        await scoped.load(trick, target);
        expect(await readFile(target, "utf8")).toBe("inside\n");
        if (trick.includes("/")) {
          expect(await scoped.list(trick.split("/")[0] as string)).toContain(trick);
        }
      }
    } finally {
      scoped.close();
    }
    const created = (await filesBelow(join(backend().dirs.basic, "..")))
      .filter((path) => !before.includes(path))
      .sort();
    expect(created).toEqual(
      ["first.txt", ...tricks].map((key) => join("basic", prefix, ...key.split("/"))).sort(),
    );
    expect(await filesBelow(backend().outside)).toEqual(outsideBefore);
  });
});
