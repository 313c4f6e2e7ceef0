import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { expectFailure, type Kit } from "../kit.js";

/** ListObjects and IsDirectory, as argo-server browses artifacts. */
export function listingScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  describe("ListObjects and IsDirectory", () => {
    scenario("a file is not a directory and lists as itself or nothing", [], async () => {
      const source = join(kit.work, "plain.txt");
      await writeFile(source, "plain");
      await kit.client.save(key("kinds/plain.txt"), source);
      expect(await kit.client.isDirectory(key("kinds/plain.txt"))).toBe(false);
      const listed = await kit.client.list(key("kinds/plain.txt"));
      expect([[], [key("kinds/plain.txt")]]).toContainEqual(listed);
    });

    scenario("a directory is a directory, with or without a trailing slash", [], async () => {
      const source = join(kit.work, "inside.txt");
      await writeFile(source, "inside");
      await kit.client.save(key("kinds/dir/a/inside.txt"), source);
      expect(await kit.client.isDirectory(key("kinds/dir"))).toBe(true);
      expect(await kit.client.isDirectory(`${key("kinds/dir")}/`)).toBe(true);
      expect(await kit.client.isDirectory(key("kinds/dir/a"))).toBe(true);
      expect(await kit.client.list(key("kinds/dir"))).toEqual([key("kinds/dir/a/inside.txt")]);
    });

    scenario(
      "a missing key is not a directory, without error, and cannot be listed",
      [],
      async () => {
        expect(await kit.client.isDirectory(key("kinds/missing"))).toBe(false);
        await expectFailure(
          kit.client.list(key("kinds/missing")),
          key("kinds/missing"),
          /not.?found|nothing exists|does not exist/i,
        );
      },
    );
  });
}
