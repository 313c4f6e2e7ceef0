import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@argo-artifact-drivers/core";
import { afterEach, describe, expect, it } from "vitest";
import { SftpAdapter } from "../src/adapter.js";
import { hostKeyPolicy } from "../src/host-key.js";
import { backend, freshBase } from "./helpers.js";

/**
 * The adapter on its own, for what the plugin's RPCs cannot provoke: a body
 * stream that breaks, connection drops, and how many SSH sessions are used.
 */
const signal = new AbortController().signal;
const adapters: SftpAdapter[] = [];

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((adapter) => adapter.close()));
});

function recordingLogger(events: string[]): Logger {
  const record = (_fields: unknown, message?: string) => {
    if (message) events.push(message);
  };
  const logger = { debug: record, info: record, warn: record, error: record };
  return logger as unknown as Logger;
}

function createAdapter(basePath: string, options: { idleMs?: number; events?: string[] } = {}) {
  const sftp = backend();
  const adapter = new SftpAdapter({
    host: sftp.host,
    port: sftp.port,
    username: sftp.username,
    password: sftp.password,
    privateKey: undefined,
    basePath,
    hostKey: hostKeyPolicy({
      host: sftp.host,
      port: sftp.port,
      knownHosts: undefined,
      fingerprint: sftp.fingerprints.ed25519,
      insecure: false,
    }),
    connectTimeoutMs: 5_000,
    logger: recordingLogger(options.events ?? []),
    idleMs: options.idleMs,
  });
  adapters.push(adapter);
  return adapter;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

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

/** Processes serving the test sshd's connections: its children and their children. */
function sshdSessions(parent = backend().sshdPid): number[] {
  let children: number[];
  try {
    const out = execFileSync("ps", ["-o", "pid=", "--ppid", String(parent)], { encoding: "utf8" });
    children = out
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
  } catch {
    return [];
  }
  return children.flatMap((pid) => [pid, ...sshdSessions(pid)]);
}

describe("atomic uploads", () => {
  it("a body that fails mid-way leaves no file at the key and no temp file", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await expect(
      adapter.write("cut/file.bin", breakingBody(3 * 1024 * 1024), { signal }),
    ).rejects.toThrow(/the upload was cut/);
    expect(await adapter.stat("cut/file.bin", signal)).toBe("missing");
    expect(await readdir(join(base, "cut"))).toEqual([]);
  });

  it("a failed upload over an existing object keeps the old object whole", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await adapter.write("keep/file.txt", Readable.from([Buffer.from("old content")]), { signal });
    await expect(
      adapter.write("keep/file.txt", breakingBody(1024 * 1024), { signal }),
    ).rejects.toThrow();
    expect((await readAll(await adapter.read("keep/file.txt", signal))).toString()).toBe(
      "old content",
    );
    expect(await readdir(join(base, "keep"))).toEqual(["file.txt"]);
  });

  it("an aborted upload leaves nothing at the key", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    const controller = new AbortController();
    const body = Readable.from(
      (async function* () {
        yield randomBytes(1024 * 1024);
        controller.abort();
        await sleep(100);
        yield randomBytes(1024 * 1024);
      })(),
    );
    await expect(
      adapter.write("aborted.bin", body, { signal: controller.signal }),
    ).rejects.toThrow();
    expect(await adapter.stat("aborted.bin", signal)).toBe("missing");
    expect(await readdir(base)).toEqual([]);
  });

  it("a size that does not match what arrived is a failed upload", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await expect(
      adapter.write("short.bin", Readable.from([randomBytes(1000)]), { signal, size: 2000 }),
    ).rejects.toThrow(/1000 bytes, 2000 expected/);
    expect(await adapter.stat("short.bin", signal)).toBe("missing");
  });
});

describe("the shared connection", () => {
  it("serves concurrent operations over one SSH connection", async () => {
    const events: string[] = [];
    const adapter = createAdapter(await freshBase(), { events });
    const payloads = Array.from({ length: 24 }, (_, index) => randomBytes(256 * 1024 + index));
    await Promise.all(
      payloads.map((payload, index) =>
        adapter.write(`many/${index % 3}/file-${index}.bin`, Readable.from([payload]), { signal }),
      ),
    );
    const read = await Promise.all(
      payloads.map(async (_, index) =>
        readAll(await adapter.read(`many/${index % 3}/file-${index}.bin`, signal)),
      ),
    );
    read.forEach((data, index) => {
      expect(data.equals(payloads[index] as Buffer)).toBe(true);
    });
    const listed = await Array.fromAsync(adapter.list("many", signal));
    expect(listed).toHaveLength(24);
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(1);
  });

  it("reconnects after the connection drops", async () => {
    const events: string[] = [];
    const adapter = createAdapter(await freshBase(), { events });
    await adapter.write("drop/a.txt", Readable.from([Buffer.from("a")]), { signal });
    const before = sshdSessions();
    expect(before.length).toBeGreaterThan(0);
    for (const pid of before) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone with its parent.
      }
    }
    await sleep(200);
    // The first call after the drop may fail as transient (the core retries it); the next one reconnects.
    await adapter.stat("drop/a.txt", signal).catch((error: { code?: string }) => {
      expect(error.code).toBe("transient");
    });
    expect(await adapter.stat("drop/a.txt", signal)).toBe("file");
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(2);
  });

  it("closes the connection when idle, and opens it again when needed", async () => {
    const events: string[] = [];
    const adapter = createAdapter(await freshBase(), { idleMs: 200, events });
    await adapter.write("idle/a.txt", Readable.from([Buffer.from("a")]), { signal });
    await sleep(600);
    expect(events).toContain("SSH connection closed");
    expect(await adapter.stat("idle/a.txt", signal)).toBe("file");
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(2);
  });
});

describe("folders and objects", () => {
  it("an empty folder is not a directory; a folder with an object at any depth is", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await adapter.write("tree/deep/er/file.txt", Readable.from([Buffer.from("x")]), { signal });
    await mkdir(join(base, "empty", "nested"), { recursive: true });
    execFileSync("chown", ["-R", `${backend().username}:`, join(base, "empty")]);
    expect(await adapter.stat("tree", signal)).toBe("directory");
    expect(await adapter.stat("tree/deep", signal)).toBe("directory");
    expect(await adapter.stat("tree/deep/er/file.txt", signal)).toBe("file");
    expect(await adapter.stat("empty", signal)).toBe("missing");
    expect(await Array.fromAsync(adapter.list("empty", signal))).toEqual([]);
    await expect(adapter.read("tree", signal)).rejects.toMatchObject({ code: "not-found" });
    await expect(adapter.read("nothing-here", signal)).rejects.toMatchObject({ code: "not-found" });
  });

  it("lists no upload temp files, and deletes folders recursively", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await adapter.write("dir/a.txt", Readable.from([Buffer.from("a")]), { signal });
    await adapter.write("dir/sub/b.txt", Readable.from([Buffer.from("b")]), { signal });
    await writeFile(join(base, "dir", ".c.txt.tmp-0123456789ab"), "left by a crash");
    expect((await Array.fromAsync(adapter.list("dir", signal))).sort()).toEqual([
      "dir/a.txt",
      "dir/sub/b.txt",
    ]);
    await adapter.deletePrefix("dir", signal);
    expect(existsSync(join(base, "dir"))).toBe(false);
    await adapter.deletePrefix("dir", signal);
    await adapter.delete("dir/a.txt", signal);
  });

  it("reports a write into a folder the user cannot write as permission denied, naming the path", async () => {
    const adapter = createAdapter(backend().readOnlyDir);
    const error = await adapter
      .write("new.txt", Readable.from([Buffer.from("x")]), { signal })
      .catch((e) => e);
    expect(error).toMatchObject({ code: "permission-denied" });
    expect(String(error.message)).toContain(backend().readOnlyDir);
    expect(String(error.message)).toContain(`${backend().host}:${backend().port}`);
    expect((await readAll(await adapter.read("object.txt", signal))).toString()).toBe(
      "read only\n",
    );
    await expect(adapter.delete("object.txt", signal)).rejects.toMatchObject({
      code: "permission-denied",
    });
  });

  it("a file where a folder should be is a conflict", async () => {
    const base = await freshBase();
    const adapter = createAdapter(base);
    await adapter.write("blocker", Readable.from([Buffer.from("x")]), { signal });
    await expect(
      adapter.write("blocker/inside.txt", Readable.from([Buffer.from("y")]), { signal }),
    ).rejects.toMatchObject({
      code: "conflict",
    });
  });
});

describe("the base path", () => {
  it("maps keys inside the base path and refuses any that would leave it", async () => {
    const adapter = createAdapter("/srv/artifacts/");
    expect(adapter.remotePath("a/b.txt")).toBe("/srv/artifacts/a/b.txt");
    expect(adapter.remotePath("..dots/ok")).toBe("/srv/artifacts/..dots/ok");
    for (const key of ["../x", "a/../../x", "a/../..", ".."]) {
      expect(() => adapter.remotePath(key)).toThrow(/would leave the base path/);
    }
    const relative = createAdapter("");
    expect(relative.remotePath("a/b")).toBe("a/b");
    expect(() => relative.remotePath("../etc/passwd")).toThrow(/would leave the base path/);
    expect(() => relative.remotePath("/etc/passwd")).toThrow(/would leave the base path/);
  });
});
