import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { sha256, sha256File, writeRandomFile, writeTree } from "../files.js";
import { expectFailure, type Kit, NOT_FOUND } from "../kit.js";

/** Delete (garbage collection), bad requests and concurrency. */
export function requestScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  describe("Delete", () => {
    scenario("deletes a file, and deleting it again succeeds", [], async () => {
      const source = join(kit.work, "delete-me.txt");
      await writeFile(source, "delete me");
      await kit.client.save(key("delete/file.txt"), source);
      await kit.client.delete(key("delete/file.txt"));
      await kit.client.delete(key("delete/file.txt"));
      await expectFailure(
        kit.client.load(key("delete/file.txt"), join(kit.work, "deleted.txt")),
        key("delete/file.txt"),
        NOT_FOUND,
      );
    });

    scenario("deletes a whole directory, with or without a trailing slash", [], async () => {
      const tree = join(kit.work, "delete-tree");
      await writeTree(tree, 12);
      await kit.client.save(key("delete/dir-a"), tree);
      await kit.client.save(key("delete/dir-b"), tree);
      await kit.client.delete(key("delete/dir-a"));
      await kit.client.delete(`${key("delete/dir-b")}/`);
      for (const dir of ["delete/dir-a", "delete/dir-b"]) {
        expect(await kit.client.isDirectory(key(dir))).toBe(false);
        await expectFailure(kit.client.list(key(dir)), key(dir), NOT_FOUND);
      }
    });

    scenario("deleting a key that never existed succeeds", [], async () => {
      await kit.client.delete(key("delete/never-existed"));
    });
  });

  describe("bad requests", () => {
    scenario("Load of a missing key fails clearly and leaves nothing at the path", [], async () => {
      const into = await mkdtemp(join(kit.work, "missing-"));
      await expectFailure(
        kit.client.load(key("missing/file.tgz"), join(into, "file.tgz")),
        key("missing/file.tgz"),
        NOT_FOUND,
      );
      expect(await readdir(into)).toEqual([]);
    });

    scenario(
      "an invalid configuration is refused naming the field, and the server keeps serving",
      [],
      async () => {
        const typo = kit.plugin.client(`${kit.configuration}\nparalelism: 4\n`);
        try {
          const failure = await expectFailure(
            typo.isDirectory(key("any")),
            key("any"),
            /paralelism/,
          );
          expect(failure).toMatch(/did you mean "parallelism"/);
        } finally {
          typo.close();
        }
        const broken = kit.plugin.client(": not yaml: [");
        try {
          await expectFailure(broken.isDirectory(key("any")), key("any"), /configuration/i);
        } finally {
          broken.close();
        }
        const wrongType = kit.plugin.client(`${kit.configuration}\nparallelism: many\n`);
        try {
          await expectFailure(wrongType.isDirectory(key("any")), key("any"), /parallelism/);
        } finally {
          wrongType.close();
        }
        expect(await kit.client.capabilities()).toEqual({ supportsSaveStream: true });
      },
    );

    scenario("invalid keys are refused clearly, and the server keeps serving", [], async () => {
      for (const bad of [
        "",
        "/",
        "../escape",
        "a/../../b",
        "a//b",
        "./a",
        "a/./b",
        "a\\..\\..\\b",
        "line\nbreak",
        "invoice\u202Efdp.exe",
      ]) {
        await expectFailure(kit.client.isDirectory(bad), bad, /invalid key/);
        await expectFailure(kit.client.save(bad, kit.largeFile), bad, /invalid key/);
      }
      // A hostile key of 100 KB is refused with a message of normal size.
      const huge = key(`long/${"k".repeat(100_000)}`);
      const refused = await kit.client.isDirectory(huge).then(
        () => "",
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/longer than 1024 bytes.*\[invalid-key\]/s);
      expect(refused.length).toBeLessThan(1000);
      const source = join(kit.work, "after-bad-keys.txt");
      await writeFile(source, "still serving");
      await kit.roundTrip(source, key("bad/after.txt"));
    });

    scenario("32 concurrent operations all succeed", [], async () => {
      const sources = await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          const source = join(kit.work, `concurrent-${i}.bin`);
          await writeRandomFile(source, 64 * 1024 + i);
          return source;
        }),
      );
      await Promise.all(
        sources.map((source, i) => kit.client.save(key(`concurrent/${i}.bin`), source)),
      );
      await Promise.all(
        sources.map(async (source, i) => {
          if (i % 2 === 0) {
            const target = join(kit.work, `concurrent-loaded-${i}.bin`);
            await kit.client.load(key(`concurrent/${i}.bin`), target);
            expect(await sha256File(target)).toBe(await sha256File(source));
          } else {
            const chunks: Buffer[] = [];
            for await (const chunk of kit.client.openStream(key(`concurrent/${i}.bin`)))
              chunks.push(chunk);
            expect(sha256(Buffer.concat(chunks))).toBe(await sha256File(source));
          }
        }),
      );
    });
  });
}
