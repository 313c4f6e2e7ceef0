import { existsSync } from "node:fs";
import { mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { BackendView } from "../backend.js";
import type { CallRecord } from "../faults.js";
import { startFaultyPlugin } from "../faulty-plugin.js";
import { sha256File, writeRandomFile } from "../files.js";
import type { Kit } from "../kit.js";
import { MiB } from "../kit.js";
import { pausedOpenStream } from "../paused-stream.js";
import type { PluginProcess } from "../plugin-process.js";

/** The grace period the plugins get here; every case must exit well within it. */
const GRACE_SECONDS = 5;
const GRACE = { ARTIFACT_DRIVER_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) };

/**
 * SIGTERM while Save, Load, OpenStream and SaveStream are in the middle of
 * their work. Each case first proves the call is still running (its adapter
 * call has started and not ended, or the client has not let it finish, and the
 * plugin has not logged it as done), then expects: the call completes whole,
 * exit 0 within the grace period, the socket removed, nothing partial left.
 */
export function shutdownScenarios(kit: Kit): void {
  const { key, hardeningCase } = kit;
  let backend: BackendView;
  let source: string;

  /**
   * Sends SIGTERM (unless it was sent at `signalledAt`), expects exit 0 within
   * the grace period and the socket gone; the seconds it took.
   */
  async function terminate(plugin: PluginProcess, signalledAt?: number): Promise<string> {
    const started = signalledAt ?? performance.now();
    const code =
      signalledAt === undefined
        ? await plugin.stop("SIGTERM", (GRACE_SECONDS + 5) * 1000)
        : await plugin.waitForExit((GRACE_SECONDS + 5) * 1000);
    const took = (performance.now() - started) / 1000;
    expect(code, "exit code after SIGTERM").toBe(0);
    expect(took).toBeLessThan(GRACE_SECONDS + 1);
    expect(existsSync(plugin.socketPath), "the socket is removed").toBe(false);
    return took.toFixed(1);
  }

  /** True once the plugin logged `operation` as done (ok or failed) for `objectKey`. */
  function logged(plugin: PluginProcess, operation: string, objectKey: string): boolean {
    return plugin.logs.some(
      (line) => line.includes(`"msg":"${operation} `) && line.includes(JSON.stringify(objectKey)),
    );
  }

  async function adapterCallRunning(records: () => Promise<CallRecord[]>, objectKey: string) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      // Writes may go to a temp name beside the key: match the key's folder.
      const folder = objectKey.slice(0, objectKey.lastIndexOf("/") + 1);
      const mine = (await records()).filter((r) => r.key.startsWith(folder));
      // Running: started more often than ended (a Load's quick stat before its
      // held read has both, and must not count).
      const count = (phase: CallRecord["phase"], like: CallRecord) =>
        mine.filter((r) => r.phase === phase && r.method === like.method && r.key === like.key)
          .length;
      if (mine.some((r) => r.phase === "start" && count("start", r) > count("end", r))) return;
      if (Date.now() > deadline) {
        throw new Error(`no adapter call for ${objectKey} was running within 20 s`);
      }
      await sleep(10);
    }
  }

  function watched<T>(call: Promise<T>): { call: Promise<T>; settled: () => boolean } {
    let done = false;
    const tracked = call.finally(() => {
      done = true;
    });
    tracked.catch(() => undefined);
    return { call: tracked, settled: () => done };
  }

  describe("SIGTERM in the middle of a call", () => {
    beforeAll(async () => {
      backend = await BackendView.open(kit.options, kit.configuration);
      source = join(kit.work, "sigterm-source.bin");
      await writeRandomFile(source, 3 * MiB);
    });
    afterAll(async () => {
      await backend?.close();
    });

    hardeningCase(
      "SIGTERM mid-Save",
      "SIGTERM during a Save lets it finish whole, removes the socket and exits 0",
      async () => {
        const prefix = key("sigterm/save");
        // The backend write takes 1.5 s, through cancellation, like a slow upload.
        const { plugin, records } = await startFaultyPlugin(
          kit,
          "sigterm-save",
          { rules: [{ methods: ["write", "writeFromFile"], stallMs: 1500, ignoreSignal: true }] },
          GRACE,
        );
        const client = plugin.client(kit.configuration);
        try {
          const saving = watched(client.save(`${prefix}/data.bin`, source));
          await adapterCallRunning(records, `${prefix}/data.bin`);
          expect(saving.settled()).toBe(false);
          expect(logged(plugin, "Save", `${prefix}/data.bin`)).toBe(false);
          const took = await terminate(plugin);
          await saving.call;
          const snapshot = await backend.snapshot(prefix);
          expect([...snapshot.keys()]).toEqual([`${prefix}/data.bin`]);
          expect(snapshot.get(`${prefix}/data.bin`)).toBe(await sha256File(source));
          return `finished whole, exit 0 in ${took} s, socket removed`;
        } finally {
          client.close();
          // A no-op after the signal; a failed assertion must not leave it running.
          await plugin.stop("SIGKILL");
        }
      },
    );

    hardeningCase(
      "SIGTERM mid-Save, past the grace",
      "a Save still stalled when the grace period ends is cancelled: nothing at the key, exit 0",
      async () => {
        const prefix = key("sigterm/save-cancelled");
        const { plugin, records } = await startFaultyPlugin(
          kit,
          "sigterm-cancel",
          { rules: [{ methods: ["write", "writeFromFile"], stallMs: 120_000 }] },
          { ARTIFACT_DRIVER_SHUTDOWN_GRACE_SECONDS: "1" },
        );
        const client = plugin.client(kit.configuration);
        try {
          const saving = watched(client.save(`${prefix}/data.bin`, source));
          await adapterCallRunning(records, `${prefix}/data.bin`);
          expect(saving.settled()).toBe(false);
          const took = await terminate(plugin);
          await expect(saving.call).rejects.toThrow();
          expect(await backend.snapshot(prefix), "nothing partial at the key").toEqual(new Map());
          return `cancelled at the grace's end, nothing at the key, exit 0 in ${took} s`;
        } finally {
          client.close();
          // A no-op after the signal; a failed assertion must not leave it running.
          await plugin.stop("SIGKILL");
        }
      },
    );

    hardeningCase(
      "SIGTERM mid-Load",
      "SIGTERM during a Load lets it finish whole, removes the socket and exits 0",
      async () => {
        const objectKey = key("sigterm/load/data.bin");
        await kit.client.save(objectKey, source);
        const { plugin, records } = await startFaultyPlugin(
          kit,
          "sigterm-load",
          { rules: [{ methods: ["read", "readToFile"], stallMs: 1500, ignoreSignal: true }] },
          GRACE,
        );
        const client = plugin.client(kit.configuration);
        try {
          const into = await mkdtemp(join(kit.work, "sigterm-load-"));
          const loading = watched(client.load(objectKey, join(into, "data.bin")));
          await adapterCallRunning(records, objectKey);
          expect(loading.settled()).toBe(false);
          expect(logged(plugin, "Load", objectKey)).toBe(false);
          const took = await terminate(plugin);
          await loading.call;
          expect(await readdir(into)).toEqual(["data.bin"]);
          expect(await sha256File(join(into, "data.bin"))).toBe(await sha256File(source));
          return `finished whole, exit 0 in ${took} s, socket removed`;
        } finally {
          client.close();
          // A no-op after the signal; a failed assertion must not leave it running.
          await plugin.stop("SIGKILL");
        }
      },
    );

    hardeningCase(
      "SIGTERM mid-OpenStream",
      "SIGTERM during an OpenStream read by a slow client: the stream completes whole, exit 0",
      async () => {
        const objectKey = key("sigterm/stream.bin");
        const large = join(kit.work, "sigterm-stream.bin");
        await writeRandomFile(large, 8 * MiB);
        await kit.client.save(objectKey, large);
        const plugin = await kit.startPlugin("sigterm-stream", GRACE);
        try {
          const paused = await pausedOpenStream(plugin.socketPath, kit.configuration, objectKey);
          // The client holds the rest: the server cannot have sent 8 MiB through a 64 KiB window.
          await sleep(200);
          expect(
            logged(plugin, "OpenStream", objectKey),
            `the OpenStream is still running; the plugin logged:\n${plugin.logs.slice(-3).join("\n")}`,
          ).toBe(false);
          const signalledAt = performance.now();
          plugin.child.kill("SIGTERM");
          await sleep(300);
          expect(plugin.child.exitCode, "draining while the stream is open").toBeNull();
          const [result, took] = await Promise.all([
            paused.finish(),
            terminate(plugin, signalledAt),
          ]);
          expect(result.error).toBe("");
          expect(result.status).toBe("0");
          expect(result.sha256).toBe(await sha256File(large));
          expect(logged(plugin, "OpenStream", objectKey)).toBe(true);
          return `completed whole (${paused.receivedBeforePause} B read before the signal), exit 0 in ${took} s, socket removed`;
        } finally {
          await plugin.stop("SIGKILL");
        }
      },
    );

    hardeningCase(
      "SIGTERM mid-SaveStream",
      "SIGTERM during a SaveStream whose client is still sending: the object is whole, exit 0",
      async () => {
        const prefix = key("sigterm/save-stream");
        const plugin = await kit.startPlugin("sigterm-savestream", GRACE);
        const client = plugin.client(kit.configuration);
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let sentFirst = () => {};
        const first = new Promise<void>((resolve) => {
          sentFirst = resolve;
        });
        const parts = [Buffer.alloc(MiB, 1), Buffer.alloc(MiB, 2)];
        async function* slowly() {
          yield parts[0] as Buffer;
          sentFirst();
          await held;
          yield parts[1] as Buffer;
        }
        try {
          const saving = watched(client.saveStream(`${prefix}/data.bin`, slowly()));
          await first;
          await sleep(200);
          expect(saving.settled()).toBe(false);
          expect(logged(plugin, "SaveStream", `${prefix}/data.bin`)).toBe(false);
          const signalledAt = performance.now();
          plugin.child.kill("SIGTERM");
          await sleep(300);
          expect(plugin.child.exitCode, "draining while the upload is open").toBeNull();
          release();
          const took = await terminate(plugin, signalledAt);
          expect(await saving.call).toBe(2 * MiB);
          const snapshot = await backend.snapshot(prefix);
          expect([...snapshot.keys()]).toEqual([`${prefix}/data.bin`]);
          const expected = await sha256Of(parts);
          expect(snapshot.get(`${prefix}/data.bin`)).toBe(expected);
          return `finished whole, exit 0 in ${took} s, socket removed`;
        } finally {
          release();
          client.close();
          await plugin.stop("SIGKILL");
        }
      },
    );
  });
}

async function sha256Of(parts: Buffer[]): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}
