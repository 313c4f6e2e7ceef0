import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { connect } from "../src/connection.js";
import { move, writeFile } from "../src/files.js";
import { hostKeyPolicy } from "../src/host-key.js";
import { body, openAdapter, readAll, recordingLogger, signal } from "./open-adapter.js";
import { backend, freshBase } from "./plugin.js";

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

describe("the shared connection", () => {
  it("serves concurrent operations over one SSH connection", async () => {
    const events: string[] = [];
    const { storage } = await openAdapter(freshBase(), { events });
    const payloads = Array.from({ length: 24 }, (_, index) => randomBytes(256 * 1024 + index));
    await Promise.all(
      payloads.map((payload, index) =>
        storage.write(`many/${index % 3}/file-${index}.bin`, Readable.from([payload]), {
          signal,
        }),
      ),
    );
    const read = await Promise.all(
      payloads.map(async (_, index) =>
        readAll(await storage.read(`many/${index % 3}/file-${index}.bin`, { signal })),
      ),
    );
    read.forEach((data, index) => {
      expect(data.equals(payloads[index] as Buffer)).toBe(true);
    });
    expect(await Array.fromAsync(storage.files("many", { signal }))).toHaveLength(24);
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(1);
  });

  it("reconnects after the connection drops", async () => {
    const events: string[] = [];
    const { adapter } = await openAdapter(freshBase(), { events });
    await adapter.write("drop/a.txt", body("a"), { signal });
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
    await adapter.stat("drop/a.txt", { signal }).catch((error: { code?: string }) => {
      expect(error.code).toBe("transient");
    });
    expect(await adapter.stat("drop/a.txt", { signal })).toBe("file");
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(2);
  });

  it("closes the connection when idle, and opens it again when needed", async () => {
    const events: string[] = [];
    const { adapter } = await openAdapter(freshBase(), { idleMs: 200, events });
    await adapter.write("idle/a.txt", body("a"), { signal });
    await sleep(600);
    expect(events).toContain("SSH connection closed");
    expect(await adapter.stat("idle/a.txt", { signal })).toBe("file");
    expect(events.filter((event) => event === "SSH connection opened")).toHaveLength(2);
  });

  it("keeps the connection while a read stream is open, however long", async () => {
    const events: string[] = [];
    const { adapter } = await openAdapter(freshBase(), { idleMs: 100, events });
    const payload = randomBytes(4 * 1024 * 1024);
    await adapter.write("slow.bin", Readable.from([payload]), { signal });
    const stream = await adapter.read("slow.bin", { signal });
    await sleep(400);
    expect(events).not.toContain("SSH connection closed");
    expect((await readAll(stream)).equals(payload)).toBe(true);
    await sleep(400);
    expect(events).toContain("SSH connection closed");
  });

  it("a cancelled read ends its stream with an error and lets the connection go idle", async () => {
    const events: string[] = [];
    const { adapter } = await openAdapter(freshBase(), { idleMs: 100, events });
    await adapter.write("big.bin", Readable.from([randomBytes(8 * 1024 * 1024)]), { signal });
    const controller = new AbortController();
    const stream = await adapter.read("big.bin", { signal: controller.signal });
    const first = await new Promise((resolve) => stream.once("data", resolve));
    expect(first).toBeInstanceOf(Buffer);
    controller.abort();
    await expect(readAll(stream)).rejects.toThrow(/cancelled/);
    await sleep(400);
    expect(events).toContain("SSH connection closed");
  });
});

describe("moving an upload onto its key", () => {
  async function session() {
    const sftp = backend();
    return connect({
      host: sftp.host,
      port: sftp.port,
      username: sftp.username,
      password: sftp.password,
      privateKey: undefined,
      hostKey: hostKeyPolicy({
        host: sftp.host,
        port: sftp.port,
        knownHosts: undefined,
        fingerprint: sftp.fingerprints.ed25519,
        insecure: false,
      }),
      connectTimeoutMs: 5_000,
      silenceTimeoutMs: 30_000,
      logger: recordingLogger([]),
    });
  }

  it("replaces the file with posix-rename@openssh.com, or by unlink and rename without it", async () => {
    const base = freshBase();
    const { adapter } = await openAdapter(base);
    await adapter.write("target.txt", body("old"), { signal });
    const opened = await session();
    try {
      await writeFile(opened, join(base, "up-1"), body("new 1"), { signal });
      await move(opened, join(base, "up-1"), join(base, "target.txt"));
      expect(await readFile(join(base, "target.txt"), "utf8")).toBe("new 1");

      // What ssh2 does on a server that does not announce the extension (not OpenSSH).
      const extensions = (opened.sftp as unknown as { _extensions: Record<string, string> })
        ._extensions;
      expect(extensions["posix-rename@openssh.com"]).toBeDefined();
      delete extensions["posix-rename@openssh.com"];
      await writeFile(opened, join(base, "up-2"), body("new 2"), { signal });
      await move(opened, join(base, "up-2"), join(base, "target.txt"));
      expect(await readFile(join(base, "target.txt"), "utf8")).toBe("new 2");
      expect(await readdir(base)).toEqual(["target.txt"]);
    } finally {
      await opened.end();
    }
  });
});
