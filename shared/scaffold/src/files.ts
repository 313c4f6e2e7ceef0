import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";

/** Build output and tool state, never part of a package's shape. */
const NOT_SOURCE = new Set(["node_modules", "dist", ".turbo", ".test-results", "coverage"]);

/**
 * The files of `dir` (relative, `/`-separated, sorted) that belong to the
 * source: tracked or new and not ignored, as git sees them; outside a git work
 * tree (a fixture, an exported copy) every file but build output.
 */
export async function sourceFiles(dir: string): Promise<string[]> {
  let listed: string | undefined;
  try {
    listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    listed = undefined;
  }
  if (listed !== undefined) {
    // Deleted but still in the index: not there.
    return listed
      .split("\0")
      .filter((path) => path !== "" && existsSync(join(dir, path)))
      .sort();
  }
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split("\\").join("/"))
    .filter((path) => !path.split("/").some((part) => NOT_SOURCE.has(part)))
    .filter((path) => !path.endsWith(".tsbuildinfo"))
    .sort();
}
