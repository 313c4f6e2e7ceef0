import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { body, openAdapter, readAll, signal } from "./open-adapter.js";
import { backend, freshBase } from "./plugin.js";

/** A body that yields `bytes` and then fails, like an upload cut mid-way. */
function breakingBody(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(bytes);
      await sleep(50);
      throw new Error("the upload was cut");
    })(),
  );
}

/** Folders made behind the plugin's back must belong to the SFTP user, as its own would. */
function giveToTestUser(path: string): void {
  execFileSync("chown", ["-R", `${backend().username}:`, path]);
}

describe("uploads, made atomic by the core with a temp file and move", () => {
  it("a body that fails mid-way leaves no file at the key and no temp file", async () => {
    const base = freshBase();
    const { storage } = await openAdapter(base);
    await expect(
      storage.write("cut/file.bin", breakingBody(3 * 1024 * 1024), { signal }),
    ).rejects.toThrow(
      /cannot write ".*\/cut\/\.file\.bin\.partial-[0-9a-f]{12}".*the upload was cut/,
    );
    expect(await storage.kind("cut/file.bin", { signal })).toBe("missing");
    expect(await readdir(join(base, "cut"))).toEqual([]);
  });

  it("a failed upload over an existing object keeps the old object whole", async () => {
    const base = freshBase();
    const { storage } = await openAdapter(base);
    await storage.write("keep/file.txt", body("old content"), { signal });
    await expect(
      storage.write("keep/file.txt", breakingBody(1024 * 1024), { signal }),
    ).rejects.toThrow();
    expect((await readAll(await storage.read("keep/file.txt", { signal }))).toString()).toBe(
      "old content",
    );
    expect(await readdir(join(base, "keep"))).toEqual(["file.txt"]);
  });

  it("a finished upload replaces the object in one rename, leaving only the object", async () => {
    const base = freshBase();
    const { storage } = await openAdapter(base);
    await storage.write("replace/file.txt", body("first"), { signal });
    await storage.write("replace/file.txt", body("second"), { signal });
    expect(await readFile(join(base, "replace", "file.txt"), "utf8")).toBe("second");
    expect(await readdir(join(base, "replace"))).toEqual(["file.txt"]);
  });

  it("an upload stops at once when cancelled while it waits for its body, leaving nothing", async () => {
    const base = freshBase();
    const { storage } = await openAdapter(base);
    const controller = new AbortController();
    // Sends 1 MiB, then nothing more until long after the cancellation.
    const stalled = Readable.from(
      (async function* () {
        yield randomBytes(1024 * 1024);
        await sleep(30_000);
        yield randomBytes(1024);
      })(),
    );
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    await expect(
      storage.write("aborted.bin", stalled, { signal: controller.signal }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await storage.kind("aborted.bin", { signal })).toBe("missing");
    // On a loaded machine the cancellation can come before the base folder is made.
    expect(existsSync(base) ? await readdir(base) : []).toEqual([]);
  });

  it("a size that does not match what arrived is a failed upload", async () => {
    const { storage } = await openAdapter(freshBase());
    await expect(
      storage.write("short.bin", Readable.from([randomBytes(1000)]), { signal, size: 2000 }),
    ).rejects.toThrow(/1000 bytes, 2000 expected/);
    expect(await storage.kind("short.bin", { signal })).toBe("missing");
  });

  it("writes straight to the key it is given, creating parent folders", async () => {
    const base = freshBase();
    const { adapter } = await openAdapter(base);
    await adapter.write("deep/er/.f.partial-0123456789ab", body("x"), { signal });
    expect(await readdir(join(base, "deep", "er"))).toEqual([".f.partial-0123456789ab"]);
  });

  it("concurrent uploads into the same new folders all succeed", async () => {
    const base = freshBase();
    const { storage } = await openAdapter(base);
    await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        storage.write(`a/b/c/file-${index}.txt`, body(String(index)), { signal }),
      ),
    );
    expect((await readdir(join(base, "a", "b", "c"))).sort()).toHaveLength(12);
  });
});

describe("files copied with requests in flight", () => {
  const folders: string[] = [];
  afterEach(async () => {
    await Promise.all(folders.splice(0).map((path) => rm(path, { recursive: true, force: true })));
  });
  async function localFolder(): Promise<string> {
    const path = await mkdtemp(join(tmpdir(), "sftp-files-"));
    folders.push(path);
    return path;
  }

  it("copies local files of odd sizes both ways, empty ones included", async () => {
    const base = freshBase();
    const { adapter } = await openAdapter(base);
    const local = await localFolder();
    for (const size of [0, 1, 128 * 1024, 3 * 1024 * 1024 + 17]) {
      const source = join(local, `source-${size}`);
      await writeFile(source, randomBytes(size));
      await adapter.writeFromFile(`copies/${size}.bin`, source, { signal, size });
      expect(
        (await readFile(join(base, "copies", `${size}.bin`))).equals(await readFile(source)),
      ).toBe(true);
      await adapter.readToFile(`copies/${size}.bin`, join(local, `copy-${size}`), { signal });
      expect((await readFile(join(local, `copy-${size}`))).equals(await readFile(source))).toBe(
        true,
      );
    }
    await expect(
      adapter.readToFile("copies", join(local, "folder"), { signal }),
    ).rejects.toMatchObject({ code: "not-found" });
  });

  it("a cancelled copy stops at once, and nothing is written after it answered", async () => {
    const base = freshBase();
    const { adapter } = await openAdapter(base);
    const local = await localFolder();
    const source = join(local, "source.bin");
    await writeFile(source, randomBytes(64 * 1024 * 1024));
    await adapter.writeFromFile("big.bin", source, { signal });

    const sizeStaysAt = async (path: string) => {
      const atAnswer = (await stat(path)).size;
      await sleep(300);
      expect((await stat(path)).size).toBe(atAnswer);
      return atAnswer;
    };
    const download = new AbortController();
    setTimeout(() => download.abort(), 20);
    const copy = join(local, "copy.bin");
    await expect(
      adapter.readToFile("big.bin", copy, { signal: download.signal }),
    ).rejects.toThrow();
    expect(await sizeStaysAt(copy)).toBeLessThan(64 * 1024 * 1024);

    const upload = new AbortController();
    setTimeout(() => upload.abort(), 20);
    await expect(
      adapter.writeFromFile("upload.bin", source, { signal: upload.signal }),
    ).rejects.toThrow();
    expect(await sizeStaysAt(join(base, "upload.bin"))).toBeLessThan(64 * 1024 * 1024);
  });
});

describe("folders", () => {
  it("lists one level: files and folders, no links or special files, temp names left to the core", async () => {
    const base = freshBase();
    const { adapter, storage } = await openAdapter(base);
    await adapter.write("dir/a.txt", body("a"), { signal });
    await adapter.write("dir/sub/b.txt", body("b"), { signal });
    await writeFile(join(base, "dir", ".c.txt.partial-0123456789ab"), "left by a crash");
    await symlink(join(base, "dir", "a.txt"), join(base, "dir", "link-to-file"));
    await symlink(join(base, "dir", "sub"), join(base, "dir", "link-to-folder"));
    execFileSync("mkfifo", [join(base, "dir", "fifo")]);
    const entries = await Array.fromAsync(adapter.listChildren("dir", { signal }));
    expect(entries.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: ".c.txt.partial-0123456789ab", kind: "file" },
      { name: "a.txt", kind: "file" },
      { name: "sub", kind: "directory" },
    ]);
    expect((await Array.fromAsync(storage.files("dir", { signal }))).sort()).toEqual([
      "dir/a.txt",
      "dir/sub/b.txt",
    ]);
    expect(await Array.fromAsync(adapter.listChildren("missing", { signal }))).toEqual([]);
    expect(await Array.fromAsync(adapter.listChildren("dir/a.txt", { signal }))).toEqual([]);
  });

  it("says directory for any folder and leaves empty ones to the core", async () => {
    const base = freshBase();
    const { adapter, storage } = await openAdapter(base);
    await adapter.write("tree/deep/er/file.txt", body("x"), { signal });
    await mkdir(join(base, "empty", "nested"), { recursive: true });
    giveToTestUser(join(base, "empty"));
    expect(await adapter.stat("empty", { signal })).toBe("directory");
    expect(await storage.kind("empty", { signal })).toBe("missing");
    expect(await storage.kind("tree", { signal })).toBe("directory");
    expect(await adapter.stat("tree/deep/er/file.txt", { signal })).toBe("file");
    expect(await adapter.stat("nothing", { signal })).toBe("missing");
    await expect(adapter.read("tree", { signal })).rejects.toMatchObject({ code: "not-found" });
    await expect(adapter.read("nothing", { signal })).rejects.toMatchObject({ code: "not-found" });
  });

  it("deletes a folder tree with its temp files and links, never following a link", async () => {
    const base = freshBase();
    const { adapter } = await openAdapter(base, { parallelism: 3 });
    const keep = `${freshBase()}-outside`;
    const { adapter: outside } = await openAdapter(keep);
    await outside.write("kept.txt", body("not under the prefix"), { signal });
    for (let folder = 0; folder < 4; folder++) {
      for (let file = 0; file < 5; file++) {
        await adapter.write(`dir/${folder}/x/${file}.txt`, body("x"), { signal });
      }
    }
    await writeFile(join(base, "dir", ".c.txt.partial-0123456789ab"), "left by a crash");
    await symlink(keep, join(base, "dir", "0", "link-to-outside"));
    await adapter.deletePrefix("dir", { signal });
    expect(existsSync(join(base, "dir"))).toBe(false);
    expect(await readdir(keep)).toEqual(["kept.txt"]);
    await adapter.deletePrefix("dir", { signal });
    await adapter.delete("dir/0/x/0.txt", { signal });
  });

  it("reports a write into a folder the user cannot write as permission denied, naming the path", async () => {
    const { adapter } = await openAdapter(backend().readOnlyDir);
    const error = await adapter.write("new.txt", body("x"), { signal }).catch((e) => e);
    expect(error).toMatchObject({ code: "permission-denied" });
    expect(String(error.message)).toContain(backend().readOnlyDir);
    expect(String(error.message)).toContain(`${backend().host}:${backend().port}`);
    expect((await readAll(await adapter.read("object.txt", { signal }))).toString()).toBe(
      "read only\n",
    );
    await expect(adapter.delete("object.txt", { signal })).rejects.toMatchObject({
      code: "permission-denied",
    });
  });

  it("a file where a folder should be, or a folder where a file goes, is a conflict", async () => {
    const { adapter, storage } = await openAdapter(freshBase());
    await storage.write("blocker", body("x"), { signal });
    await expect(storage.write("blocker/inside.txt", body("y"), { signal })).rejects.toMatchObject({
      code: "conflict",
    });
    await storage.write("folder/file.txt", body("x"), { signal });
    await adapter.write("folder-upload", body("y"), { signal });
    await expect(adapter.move("folder-upload", "folder", { signal })).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("a folder is at that path"),
    });
  });
});

describe("the base path", () => {
  it("maps keys inside the base path and refuses any that would leave it", async () => {
    const { adapter } = await openAdapter("/srv/artifacts/");
    expect(adapter.remotePath("a/b.txt")).toBe("/srv/artifacts/a/b.txt");
    expect(adapter.remotePath("..dots/ok")).toBe("/srv/artifacts/..dots/ok");
    for (const key of ["../x", "a/../../x", "a/../..", ".."]) {
      expect(() => adapter.remotePath(key)).toThrow(/would leave the base path/);
    }
    const { adapter: relative } = await openAdapter("");
    expect(relative.remotePath("a/b")).toBe("a/b");
    expect(() => relative.remotePath("../etc/passwd")).toThrow(/would leave the base path/);
    expect(() => relative.remotePath("/etc/passwd")).toThrow(/would leave the base path/);
  });
});
