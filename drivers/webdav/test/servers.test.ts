import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestPlugin } from "@argo-artifact-drivers/conformance";
import { failureMessage } from "@argo-artifact-drivers/conformance";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, configuration, fresh, login, startPlugin } from "./plugin.js";

/**
 * What differs between servers, on Apache (MKCOL on an existing collection:
 * 405; PUT into a missing parent: 409) and rclone (201 and 404).
 */
const servers = {
  apache: () => ({ url: `${backend().apache}/basic/`, dir: backend().dirs.basic }),
  rclone: () => ({ url: `${backend().rclone}/`, dir: backend().dirs.rclone }),
};

for (const [server, where] of Object.entries(servers)) {
  describe(`on ${server}`, () => {
    let plugin: TestPlugin;
    let work: string;

    beforeAll(async () => {
      plugin = await startPlugin();
      work = plugin.work;
    });

    afterAll(async () => {
      expect(await plugin.stop()).toBe(0);
    });

    it("16 uploads at once into the same new deep folders all land (concurrent MKCOL)", async () => {
      const folder = fresh("mkcol");
      const client = plugin.client(configuration({ url: where().url, ...login }));
      try {
        const keys = Array.from(
          { length: 16 },
          (_, i) => `${folder}/a/b/c/${i % 2 ? "odd" : "even"}/${i}.txt`,
        );
        await Promise.all(
          keys.map(async (key, i) => {
            const source = join(work, `${folder}-${i}.txt`);
            await writeFile(source, `file ${i}\n`);
            await client.save(key, source);
          }),
        );
        expect((await client.list(folder)).sort()).toEqual([...keys].sort());
        for (const [i, key] of keys.entries()) {
          expect(await readFile(join(where().dir, key), "utf8")).toBe(`file ${i}\n`);
        }
      } finally {
        client.close();
      }
    });

    it("deleting a directory removes its collection with one DELETE", async () => {
      const folder = fresh("delete");
      const client = plugin.client(configuration({ url: where().url, ...login }));
      try {
        const source = join(work, `${folder}.txt`);
        await writeFile(source, "x\n");
        await client.save(`${folder}/tree/a/x.txt`, source);
        await client.save(`${folder}/tree/b.txt`, source);
        await client.save(`${folder}/kept.txt`, source);
        await client.delete(`${folder}/tree`);
        expect(existsSync(join(where().dir, folder, "tree"))).toBe(false);
        expect(await client.list(folder)).toEqual([`${folder}/kept.txt`]);
        // Saving again after the delete recreates the folders the adapter had made before.
        await client.save(`${folder}/tree/a/x.txt`, source);
        expect(await readFile(join(where().dir, folder, "tree", "a", "x.txt"), "utf8")).toBe("x\n");
      } finally {
        client.close();
      }
    });

    it("reading a collection as a file is not found, and says it is a collection", async () => {
      const folder = fresh("collection");
      const client = plugin.client(configuration({ url: where().url, ...login }));
      try {
        const source = join(work, `${folder}.txt`);
        await writeFile(source, "x\n");
        await client.save(`${folder}/dir/x.txt`, source);
        const text = await failureMessage(
          (async () => {
            for await (const _ of client.openStream(`${folder}/dir`));
          })(),
        );
        expect(text).toMatch(/is a collection \(a folder\), not a file.*\[not-found\]/s);
        expect(text).toMatch(server === "apache" ? /HTTP 404/ : /HTTP 405/);
      } finally {
        client.close();
      }
    });

    it("saving over a file replaces it in place (MOVE with Overwrite: T)", async () => {
      const key = `${fresh("move")}/artifact.txt`;
      const client = plugin.client(configuration({ url: where().url, ...login }));
      try {
        for (const version of ["one, longer than two", "two"]) {
          const source = join(work, `${version.length}.txt`);
          await writeFile(source, version);
          await client.save(key, source);
          expect(await readFile(join(where().dir, key), "utf8")).toBe(version);
        }
      } finally {
        client.close();
      }
    });
  });
}
