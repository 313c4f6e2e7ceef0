import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ArtifactClient, ArtifactClientError, rechunk } from "../src/index.js";
import { LocalPlugin, MiB, removeDir, sha256, tempDir } from "./helpers.js";

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function failure(call: Promise<unknown>): Promise<ArtifactClientError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ArtifactClientError) return error;
    throw error;
  }
  throw new Error("the call should have failed");
}

describe("ArtifactClient against the local reference plugin", () => {
  let dir: string;
  let store: string;
  let socket: string;
  let plugin: LocalPlugin;
  let client: ArtifactClient;

  beforeAll(async () => {
    dir = await tempDir();
    store = join(dir, "store");
    await mkdir(store);
    socket = join(dir, "local.sock");
    plugin = await LocalPlugin.start(socket);
    client = new ArtifactClient(socket, { pluginName: "local", configuration: `root: ${store}` });
  });

  afterAll(async () => {
    client?.close();
    await plugin?.stop();
    await removeDir(dir);
  });

  test("save, openStream, list, isDirectory, load and delete a file", async () => {
    const data = randomBytes(3 * MiB + 17);
    const source = join(dir, "source.bin");
    await writeFile(source, data);

    await client.save("files/a b/ünï.bin", source);
    expect(sha256(await collect(client.openStream("files/a b/ünï.bin")))).toBe(sha256(data));
    expect(await client.list("files")).toEqual(["files/a b/ünï.bin"]);
    expect(await client.isDirectory("files")).toBe(true);
    expect(await client.isDirectory("files/a b/ünï.bin")).toBe(false);

    const target = join(dir, "loaded.bin");
    await client.load("files/a b/ünï.bin", target);
    expect(sha256(await readFile(target))).toBe(sha256(data));

    await client.delete("files");
    expect(await client.isDirectory("files")).toBe(false);
  });

  test("load of a directory key recreates the tree", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "a.txt"), "a");
    await writeFile(join(tree, "sub", "b.txt"), "b");
    await client.save("trees/one", tree);
    expect((await client.list("trees/one")).sort()).toEqual([
      "trees/one/a.txt",
      "trees/one/sub/b.txt",
    ]);
    const target = join(dir, "tree-loaded");
    await client.load("trees/one", target);
    expect((await readdir(target, { recursive: true })).sort()).toEqual([
      "a.txt",
      "sub",
      "sub/b.txt",
    ]);
    expect(await readFile(join(target, "sub", "b.txt"), "utf8")).toBe("b");
  });

  test("saveStream regroups odd pieces and strings into a whole object", async () => {
    const pieces = Array.from({ length: 700 }, (_, i) => randomBytes(7777 + (i % 13)));
    async function* source() {
      yield "head:";
      for (const piece of pieces) yield piece;
    }
    const expected = Buffer.concat([Buffer.from("head:"), ...pieces]);
    const sent = await client.saveStream("streams/odd.bin", source());
    expect(sent).toBe(expected.length);
    expect(sha256(await collect(client.openStream("streams/odd.bin")))).toBe(sha256(expected));
  });

  test("saveStream of an empty source stores an empty object", async () => {
    expect(await client.saveStream("streams/empty.bin", (async function* () {})())).toBe(0);
    expect((await collect(client.openStream("streams/empty.bin"))).length).toBe(0);
  });

  test("saveFileStream sends a file", async () => {
    const file = join(dir, "stream-source.bin");
    const data = randomBytes(5 * MiB + 1);
    await writeFile(file, data);
    expect(await client.saveFileStream("streams/file.bin", file)).toBe(data.length);
    expect(sha256(await collect(client.openStream("streams/file.bin")))).toBe(sha256(data));
  });

  test("a source that fails fails the call with the source's error", async () => {
    async function* failing() {
      yield randomBytes(3 * MiB);
      throw new Error("disk on fire");
    }
    const error = await failure(client.saveStream("streams/broken.bin", failing()));
    expect(error.kind).toBe("source");
    expect(error.operation).toBe("SaveStream");
    expect(error.message).toContain("disk on fire");
    expect(error.message).toContain("the call was cancelled");
  });

  test("aborting a saveStream whose source stalls rejects promptly", async () => {
    const controller = new AbortController();
    async function* stalls() {
      yield randomBytes(MiB);
      await sleep(60_000);
    }
    setTimeout(() => controller.abort(new Error("stop now")), 200);
    const started = Date.now();
    await expect(
      client.saveStream("streams/aborted.bin", stalls(), { signal: controller.signal }),
    ).rejects.toThrow("stop now");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test("the plugin's error message surfaces with the operation and key", async () => {
    const error = await failure(client.list("nothing/here"));
    expect(error.kind).toBe("plugin");
    expect(error.operation).toBe("ListObjects");
    expect(error.key).toBe("nothing/here");
    expect(error.message).toContain('"nothing/here"');

    const stream = await failure(collect(client.openStream("nothing/here")));
    expect(stream.operation).toBe("OpenStream");
    expect(stream.message).toMatch(/not.?found|ENOENT/i);
  });

  test("an invalid configuration is reported with the plugin's suggestion", async () => {
    const wrong = new ArtifactClient(socket, { pluginName: "local", configuration: "rot: /tmp" });
    try {
      const error = await failure(wrong.isDirectory("x"));
      expect(error.message).toContain('unknown field "rot"');
      expect(error.message).toContain('did you mean "root"');
    } finally {
      wrong.close();
    }
  });

  test("breaking out of openStream cancels the call and the client stays usable", async () => {
    await client.saveStream("streams/big.bin", rechunk([randomBytes(24 * MiB)], MiB));
    let frames = 0;
    for await (const _ of client.openStream("streams/big.bin")) {
      if (++frames === 2) break;
    }
    expect(frames).toBe(2);
    expect(await client.isDirectory("streams")).toBe(true);
  });

  test("whole downloads end without resetting their streams: 3,000 of them keep one connection", async () => {
    // Cancelling each finished stream sent one RST_STREAM per download, and
    // Node's HTTP/2 server closes a connection past its rapid-reset limit (a
    // burst of 1,000), failing every call in flight. The status trails the
    // last frame of a 256 KiB object often enough for that to show.
    const data = randomBytes(256 * 1024);
    await client.saveStream("resets/object.bin", [data]);
    let whole = 0;
    let started = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (started++ < 3_000) {
          if (sha256(await collect(client.openStream("resets/object.bin"))) === sha256(data)) {
            whole++;
          }
        }
      }),
    );
    expect(whole).toBe(3_000);
  });

  test("32 concurrent calls share one connection", async () => {
    const datas = Array.from({ length: 16 }, () => randomBytes(256 * 1024));
    await Promise.all(datas.map((data, i) => client.saveStream(`many/${i}.bin`, [data])));
    const results = await Promise.all([
      ...datas.map(
        async (data, i) =>
          sha256(await collect(client.openStream(`many/${i}.bin`))) === sha256(data),
      ),
      ...datas.map(async (_, i) => (await client.isDirectory(`many/${i}.bin`)) === false),
    ]);
    expect(results).toEqual(Array(32).fill(true));
    expect((await client.list("many")).length).toBe(16);
  });

  test("capabilities reports SaveStream", async () => {
    expect(await client.capabilities()).toEqual({ supportsSaveStream: true });
  });
});

describe("connecting", () => {
  test("waits for a plugin that starts after the client", async () => {
    const dir = await tempDir();
    const socket = join(dir, "late", "socket");
    const client = new ArtifactClient(socket, {
      pluginName: "late",
      configuration: `root: ${dir}`,
      readyTimeoutMs: 10_000,
    });
    let plugin: LocalPlugin | undefined;
    try {
      const call = client.capabilities();
      await sleep(700);
      plugin = await LocalPlugin.start(socket, false);
      expect(await call).toEqual({ supportsSaveStream: true });
    } finally {
      client.close();
      await plugin?.stop();
      await removeDir(dir);
    }
  });

  test("a missing socket fails after the wait, naming the socket", async () => {
    const dir = await tempDir();
    const socket = join(dir, "nobody.sock");
    const client = new ArtifactClient(socket, {
      pluginName: "x",
      configuration: "",
      readyTimeoutMs: 400,
    });
    try {
      const started = Date.now();
      const error = await failure(client.isDirectory("k"));
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      expect(error.kind).toBe("unavailable");
      expect(error.message).toContain(socket);
      expect(error.message).toMatch(/no plugin socket/);
    } finally {
      client.close();
      await removeDir(dir);
    }
  });

  test("a stale socket of a killed plugin fails clearly", async () => {
    const dir = await tempDir();
    const socket = join(dir, "stale.sock");
    const plugin = await LocalPlugin.start(socket);
    await plugin.stop("SIGKILL");
    const client = new ArtifactClient(socket, {
      pluginName: "x",
      configuration: "",
      readyTimeoutMs: 500,
    });
    try {
      const error = await failure(client.delete("k"));
      expect(error.kind).toBe("unavailable");
      expect(error.message).toContain(socket);
      expect(error.message).toMatch(/nothing accepted a connection/);
    } finally {
      client.close();
      await removeDir(dir);
    }
  });

  test("a path that is not a socket fails at once", async () => {
    const dir = await tempDir();
    const notSocket = join(dir, "file.txt");
    await writeFile(notSocket, "x");
    const client = new ArtifactClient(notSocket, { pluginName: "x", configuration: "" });
    try {
      const error = await failure(client.isDirectory("k"));
      expect(error.message).toContain("is not a Unix socket");
    } finally {
      client.close();
      await removeDir(dir);
    }
  });
});

describe("rechunk", () => {
  test("yields pieces of exactly the chunk size, then the rest", async () => {
    const input = [Buffer.alloc(3), Buffer.alloc(10), Buffer.alloc(0), Buffer.alloc(1)];
    const sizes: number[] = [];
    for await (const piece of rechunk(input, 4)) sizes.push(piece.length);
    expect(sizes).toEqual([4, 4, 4, 2]);
  });

  test("passes pieces already of the chunk size through without copying", async () => {
    const original = Buffer.alloc(8);
    const pieces: Buffer[] = [];
    for await (const piece of rechunk([original], 8)) pieces.push(piece);
    expect(pieces.length).toBe(1);
    expect(pieces[0]?.buffer).toBe(original.buffer);
  });
});
