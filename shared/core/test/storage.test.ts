import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CallOptions, FolderEntry, StorageAdapter } from "../src/adapter.js";
import { Storage } from "../src/storage.js";
import { isTempName } from "../src/temp-names.js";

const options: CallOptions = { signal: new AbortController().signal };

/** An in-memory folder backend: files by key, folders implied, plus explicitly made empty folders. */
function folderBackend(files: Record<string, string>, emptyFolders: string[] = []) {
  const data = new Map(Object.entries(files));
  const moves: [string, string][] = [];
  const children = (prefix: string): FolderEntry[] => {
    const under = prefix === "" ? "" : `${prefix}/`;
    const seen = new Map<string, FolderEntry["kind"]>();
    for (const key of [...data.keys(), ...emptyFolders.map((f) => `${f}/`)]) {
      if (!key.startsWith(under)) continue;
      const [name, ...rest] = key.slice(under.length).split("/");
      if (name) seen.set(name, rest.length > 0 ? "directory" : "file");
    }
    return [...seen].map(([name, kind]) => ({ name, kind }));
  };
  const adapter: StorageAdapter = {
    target: "memory",
    async stat(key) {
      if (data.has(key)) return "file";
      return children(key).length > 0 || emptyFolders.includes(key) ? "directory" : "missing";
    },
    async read(key) {
      return Readable.from([Buffer.from(data.get(key) ?? "")]);
    },
    async write(key, body) {
      let text = "";
      for await (const chunk of body) text += chunk;
      data.set(key, text);
    },
    async delete(key) {
      data.delete(key);
    },
    async deletePrefix() {},
    async *listChildren(prefix) {
      yield* children(prefix);
    },
    async move(from, to) {
      moves.push([from, to]);
      data.set(to, data.get(from) ?? "");
      data.delete(from);
    },
    async close() {},
  };
  return { adapter, data, moves };
}

describe("Storage", () => {
  it("refuses an adapter with both or neither of list and listChildren", () => {
    const { adapter } = folderBackend({});
    expect(() => new Storage({ ...adapter, listChildren: undefined }, 4)).toThrow(/exactly one/);
    expect(
      () => new Storage({ ...adapter, list: async function* () {} } as StorageAdapter, 4),
    ).toThrow(/exactly one/);
  });

  it("counts a folder as a directory only when a file is below it", async () => {
    const { adapter } = folderBackend({ "a/b/c.txt": "c" }, ["empty", "a/empty"]);
    const storage = new Storage(adapter, 4);
    expect(await storage.kind("a", options)).toBe("directory");
    expect(await storage.kind("empty", options)).toBe("missing");
    expect(await storage.kind("a/empty", options)).toBe("missing");
    expect(await storage.kind("a/b/c.txt", options)).toBe("file");
  });

  it("walks folders into full keys and hides temp names", async () => {
    const { adapter } = folderBackend({
      "t/x.txt": "x",
      "t/deep/y.txt": "y",
      "t/.z.txt.partial-0123456789ab": "in flight",
    });
    const keys = await Array.fromAsync(new Storage(adapter, 2).files("t", options));
    expect(keys.sort()).toEqual(["t/deep/y.txt", "t/x.txt"]);
  });

  it("writes through a temp sibling and moves it onto the key", async () => {
    const { adapter, data, moves } = folderBackend({});
    await new Storage(adapter, 4).write("d/file.txt", Readable.from(["hello"]), options);
    expect(data.get("d/file.txt")).toBe("hello");
    expect(moves).toHaveLength(1);
    const [from, to] = moves[0] ?? [];
    expect(to).toBe("d/file.txt");
    expect(from?.startsWith("d/")).toBe(true);
    expect(isTempName(from?.slice(2) ?? "")).toBe(true);
  });

  it("removes the temp object when the write fails, and leaves the key alone", async () => {
    const { adapter, data } = folderBackend({ "d/file.txt": "old" });
    const broken = new Readable({
      read() {
        this.destroy(new Error("the source broke"));
      },
    });
    await expect(new Storage(adapter, 4).write("d/file.txt", broken, options)).rejects.toThrow(
      "the source broke",
    );
    expect([...data.keys()]).toEqual(["d/file.txt"]);
    expect(data.get("d/file.txt")).toBe("old");
  });

  it("removes a temp object its failed write could not, once a retry of that key succeeds", async () => {
    const { adapter, data } = folderBackend({});
    // The broken connection fails the upload after the temp exists, and its clean-up too.
    let connectionDown = true;
    const write = adapter.write.bind(adapter);
    const remove = adapter.delete.bind(adapter);
    adapter.write = async (key, body, writeOptions) => {
      await write(key, body, writeOptions);
      if (connectionDown) throw new Error("connection reset");
    };
    adapter.delete = async (key, deleteOptions) => {
      if (connectionDown) throw new Error("connection reset");
      await remove(key, deleteOptions);
    };
    const storage = new Storage(adapter, 4);
    await expect(storage.write("d/file.txt", Readable.from(["first"]), options)).rejects.toThrow(
      "connection reset",
    );
    expect([...data.keys()].filter((key) => isTempName(key.slice(2)))).toHaveLength(1);
    connectionDown = false;
    await storage.write("d/file.txt", Readable.from(["second"]), options);
    expect([...data.keys()]).toEqual(["d/file.txt"]);
    expect(data.get("d/file.txt")).toBe("second");
  });

  it("an adapter stream that fails before its reader is attached fails the read, not the process", async () => {
    const { adapter } = folderBackend({ "d/file.txt": "whole" });
    // Fails while the core is still opening the local file, as a checksum checked at the end can.
    adapter.read = async () => {
      const body = new PassThrough();
      queueMicrotask(() => body.destroy(new Error("checksum mismatch")));
      return body;
    };
    const folder = await mkdtemp(join(tmpdir(), "storage-"));
    await expect(
      new Storage(adapter, 4).readToFile("d/file.txt", join(folder, "file.txt"), options),
    ).rejects.toThrow("checksum mismatch");
    const early = await new Storage(adapter, 4).read("d/file.txt", options);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await expect(early.toArray()).rejects.toThrow("checksum mismatch");
  });

  it("drops folder markers and refuses keys outside the prefix from flat listings", async () => {
    const flat = (keys: string[]): StorageAdapter => ({
      ...folderBackend({}).adapter,
      listChildren: undefined,
      move: undefined,
      async *list() {
        yield* keys;
      },
    });
    const storage = new Storage(flat(["p/", "p/a.txt", "p/sub/", "p/sub/b.txt"]), 4);
    expect(await Array.fromAsync(storage.files("p", options))).toEqual(["p/a.txt", "p/sub/b.txt"]);
    const escaping = new Storage(flat(["p/a.txt", "q/b.txt"]), 4);
    await expect(Array.fromAsync(escaping.files("p", options))).rejects.toThrow(/not under "p\/"/);
  });
});
