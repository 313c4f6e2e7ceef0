import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { treeDigest, writeTree } from "../files.js";
import { type Kit, MiB } from "../kit.js";

/** Files and directory trees: what the executor saves and loads. */
export function transferScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  describe("files", () => {
    scenario("an empty file round-trips", ["empty-files"], async () => {
      const source = join(kit.work, "empty.txt");
      await writeFile(source, "");
      await kit.roundTrip(source, key("files/empty.txt"));
    });

    scenario("a 1-byte file round-trips", [], async () => {
      const source = join(kit.work, "one.txt");
      await writeFile(source, "x");
      await kit.roundTrip(source, key("files/one.txt"));
    });

    scenario(
      `a ${Math.round(kit.largeFileBytes / MiB)} MiB binary file round-trips`,
      [],
      async () => {
        await kit.roundTrip(kit.largeFile, key("files/large.bin"));
      },
    );

    scenario(
      "keys with spaces, unicode, %, #, + and ? round-trip exactly",
      ["special-characters"],
      async () => {
        const source = join(kit.work, "special.txt");
        await writeFile(source, "special");
        const special = key("files/dir with space/ünïcødé 文件 100% #1+2?.txt");
        await kit.roundTrip(source, special);
        expect(await kit.client.list(key("files/dir with space"))).toEqual([special]);
      },
    );

    scenario("saving over a file replaces it", [], async () => {
      const first = join(kit.work, "first.txt");
      const second = join(kit.work, "second.txt");
      await writeFile(first, "first version, longer than the second");
      await writeFile(second, "second");
      await kit.client.save(key("files/overwrite.txt"), first);
      await kit.roundTrip(second, key("files/overwrite.txt"));
    });
  });

  describe("directories", () => {
    const treeRoot = () => join(kit.work, "tree");

    scenario("a nested tree of 220+ files round-trips exactly", [], async () => {
      await writeTree(treeRoot(), 220);
      await kit.client.save(key("tree"), treeRoot());
      const target = join(kit.work, "tree-loaded");
      await kit.client.load(key("tree"), target);
      expect(await treeDigest(target)).toEqual(await treeDigest(treeRoot()));
    });

    scenario("ListObjects lists every object of a directory as full keys", [], async () => {
      const expected = [...(await treeDigest(treeRoot())).keys()]
        .map((path) => key(`tree/${path}`))
        .sort();
      expect((await kit.client.list(key("tree"))).sort()).toEqual(expected);
      expect((await kit.client.list(`${key("tree")}/`)).sort()).toEqual(expected);
    });

    scenario("saving over a directory replaces the whole tree", [], async () => {
      const second = join(kit.work, "tree-2");
      await mkdir(join(second, "level-0"), { recursive: true });
      await writeFile(join(second, "level-0", "new.txt"), "new");
      await writeFile(join(second, "empty"), "replaced");
      await kit.client.save(key("tree-replaced"), treeRoot());
      await kit.client.save(key("tree-replaced"), second);
      const target = join(kit.work, "tree-2-loaded");
      await kit.client.load(key("tree-replaced"), target);
      expect(await treeDigest(target)).toEqual(await treeDigest(second));
    });
  });
}
