import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, opendir, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { pipeline } from "node:stream/promises";

/** Writes `bytes` random bytes to `path` a MiB at a time (never the whole file in memory). */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  async function* chunks() {
    for (let left = bytes; left > 0; left -= 1024 * 1024)
      yield randomBytes(Math.min(left, 1024 * 1024));
  }
  await pipeline(chunks(), createWriteStream(path));
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Relative path (with `/`) to sha256 of every file under `root`. */
export async function treeDigest(root: string): Promise<Map<string, string>> {
  const digest = new Map<string, string>();
  for await (const entry of await opendir(root, { recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    digest.set(relative(root, path).split(sep).join("/"), await sha256File(path));
  }
  return new Map([...digest].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * A nested tree of `count` small files (plus one empty and one of 1 MiB),
 * with names that exercise encoding: spaces, unicode, `%`, `#`, `+`.
 */
export async function writeTree(root: string, count: number): Promise<void> {
  const names = ["plain.txt", "with space.txt", "ünïcødé-文件.bin", "100% #1+2.dat"];
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const folder = join(root, `level-${i % 5}`, `sub-${i % 3}`, ...(i % 7 === 0 ? ["deeper"] : []));
    const name = `${i}-${names[i % names.length]}`;
    writes.push(
      mkdir(folder, { recursive: true }).then(() =>
        writeFile(join(folder, name), `file ${i}\n${"x".repeat(i % 97)}`),
      ),
    );
  }
  await Promise.all(writes);
  await writeFile(join(root, "empty"), "");
  await writeRandomFile(join(root, "level-0", "one-mebibyte.bin"), 1024 * 1024);
}
