import { mkdtemp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { BackendView } from "../backend.js";
import { sha256File, writeRandomFile } from "../files.js";
import { expectFailure, type Kit, MiB, type NetworkRoute, notRun } from "../kit.js";
import type { PluginProcess } from "../plugin-process.js";
import { type ToxicProxy, Toxiproxy } from "../toxiproxy.js";

/** The network-fault cases of the hardening table, in its order. */
export const NETWORK_CASES = [
  "reset mid-upload",
  "reset mid-upload, every try",
  "reset mid-download",
  "latency 50 ms",
  "bandwidth 1 MiB/s",
  "stall past the timeout",
] as const;

/** Retries quick enough for a test, slow enough that a toxic is removed before the next try. */
const RETRY = "retry: {attempts: 3, initialDelaySeconds: 1, factor: 1}";
const NO_RETRY = "retry: {attempts: 2, initialDelaySeconds: 0.2, factor: 1}";

/**
 * Toxiproxy between the driver and its real backend: connections reset in
 * the middle of an upload and of a download, latency, a bandwidth limit and a
 * stall past the timeout. Each case either recovers through the core's retry
 * with the bytes intact, or fails cleanly (an error naming the key, nothing
 * at the key, as the backend itself shows), and the server keeps serving.
 */
export function networkFaultScenarios(kit: Kit): void {
  const network = kit.options.network;
  if ("notApplicable" in network) {
    describe("network faults (Toxiproxy between the driver and its backend)", () => {
      for (const name of NETWORK_CASES) {
        kit.hardening.record(name, `n/a: ${network.notApplicable}`);
        notRun(name, network.notApplicable);
      }
    });
    return;
  }
  const route: NetworkRoute = network;
  const { key, hardeningCase } = kit;
  let toxiproxy: Toxiproxy;
  let plugin: PluginProcess;
  let backend: BackendView;
  let small: string;
  let medium: string;

  /** A fresh proxy and the configuration through it, with `retry`. */
  async function throughProxy(
    retry = RETRY,
  ): Promise<{ proxy: ToxicProxy; configuration: string }> {
    const proxy = await toxiproxy.proxy(route.upstream);
    return { proxy, configuration: `${await route.configuration(proxy.address)}\n${retry}` };
  }

  /** Resolves when a log line after `from` says a try failed and another follows. */
  async function retried(from: number, timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = plugin.logs.slice(from).filter((line) => /"msg":"retrying/.test(line));
      if (lines.length > 0) return lines.length;
      const failed = plugin.logs.slice(from).find((line) => /"msg":"\w+ failed"/.test(line));
      if (failed) throw new Error(`the call failed without a retry: ${failed}`);
      if (Date.now() > deadline) {
        const tail = plugin.logs.slice(from).slice(-3).join("\n");
        throw new Error(`no retry was logged within ${timeoutMs} ms; the plugin logged:\n${tail}`);
      }
      await sleep(10);
    }
  }

  /** The case's folder holds exactly `name` with `source`'s bytes: no temp or partial objects. */
  async function expectOnly(prefix: string, name: string, source: string): Promise<void> {
    const snapshot = await backend.snapshot(prefix);
    expect([...snapshot.keys()]).toEqual([`${prefix}/${name}`]);
    expect(snapshot.get(`${prefix}/${name}`)).toBe(await sha256File(source));
  }

  /** Tracks whether a call has settled, to prove a fault hit it in flight. */
  function watched<T>(call: Promise<T>): { call: Promise<T>; settled: () => boolean } {
    let done = false;
    const tracked = call.finally(() => {
      done = true;
    });
    tracked.catch(() => undefined);
    return { call: tracked, settled: () => done };
  }

  async function roundTripThrough(configuration: string, prefix: string, source: string) {
    const client = plugin.client(configuration);
    try {
      await client.save(`${prefix}/data.bin`, source);
      const into = await mkdtemp(join(kit.work, "net-"));
      await client.load(`${prefix}/data.bin`, join(into, "data.bin"));
      expect(await sha256File(join(into, "data.bin"))).toBe(await sha256File(source));
      expect(await client.list(prefix)).toEqual([`${prefix}/data.bin`]);
    } finally {
      client.close();
    }
  }

  describe("network faults (Toxiproxy between the driver and its backend)", () => {
    beforeAll(async () => {
      toxiproxy = await Toxiproxy.start();
      plugin = await kit.startPlugin("network");
      backend = await BackendView.open(kit.options, kit.configuration);
      small = join(kit.work, "net-small.bin");
      medium = join(kit.work, "net-medium.bin");
      await writeRandomFile(small, 256 * 1024);
      await writeRandomFile(medium, 2 * MiB);
    });
    afterAll(async () => {
      await backend?.close();
      await plugin?.stop();
      await toxiproxy?.stop();
    });

    hardeningCase(
      "reset mid-upload",
      "a connection reset in the middle of a Save is retried, and the object is whole",
      async () => {
        const { proxy, configuration } = await throughProxy();
        const client = plugin.client(configuration);
        const prefix = key("net/reset-up");
        try {
          expect(await client.isDirectory(prefix)).toBe(false);
          // 2 MiB at 2 MiB/s: the reset lands about a quarter of the way in.
          await proxy.add("slow", bw("upstream", 2048));
          const from = plugin.logs.length;
          const saving = watched(client.save(`${prefix}/data.bin`, medium));
          await sleep(250);
          expect(saving.settled(), "the Save was still running when the reset came").toBe(false);
          await proxy.add("reset", {
            type: "reset_peer",
            stream: "upstream",
            attributes: { timeout: 0 },
          });
          const retries = await retried(from);
          await proxy.remove("reset");
          await proxy.remove("slow");
          await saving.call;
          await expectOnly(prefix, "data.bin", medium);
          return `recovered (${retries} retr${retries === 1 ? "y" : "ies"}), bytes intact`;
        } finally {
          client.close();
          await proxy.delete();
        }
      },
    );

    hardeningCase(
      "reset mid-upload, every try",
      "a Save whose every try is reset fails naming the key and leaves nothing at it",
      async () => {
        const { proxy, configuration } = await throughProxy(NO_RETRY);
        const client = plugin.client(configuration);
        const prefix = key("net/reset-always");
        try {
          expect(await client.isDirectory(prefix)).toBe(false);
          await proxy.add("slow", bw("upstream", 2048));
          // Every connection is reset 200 ms after its first bytes: mid-body for the upload.
          await proxy.add("reset", {
            type: "reset_peer",
            stream: "upstream",
            attributes: { timeout: 200 },
          });
          const message = await expectFailure(
            client.save(`${prefix}/data.bin`, medium),
            `${prefix}/data.bin`,
            /./,
          );
          await proxy.remove("reset");
          await proxy.remove("slow");
          expect(await backend.snapshot(prefix), "nothing partial at the key").toEqual(new Map());
          await roundTripThrough(configuration, `${prefix}-after`, small);
          return `failed cleanly (${errorCode(message)}), nothing at the key; served after`;
        } finally {
          client.close();
          await proxy.delete();
        }
      },
    );

    hardeningCase(
      "reset mid-download",
      "a connection reset in the middle of a Load is retried, and the file is whole",
      async () => {
        const prefix = key("net/reset-down");
        await kit.client.save(`${prefix}/data.bin`, medium);
        const { proxy, configuration } = await throughProxy();
        const client = plugin.client(configuration);
        try {
          expect(await client.isDirectory(prefix)).toBe(true);
          await proxy.add("slow", bw("downstream", 2048));
          const into = await mkdtemp(join(kit.work, "reset-down-"));
          const from = plugin.logs.length;
          const loading = watched(client.load(`${prefix}/data.bin`, join(into, "data.bin")));
          await sleep(250);
          expect(loading.settled(), "the Load was still running when the reset came").toBe(false);
          await proxy.add("reset", {
            type: "reset_peer",
            stream: "downstream",
            attributes: { timeout: 0 },
          });
          const retries = await retried(from);
          await proxy.remove("reset");
          await proxy.remove("slow");
          await loading.call;
          expect(await readdir(into)).toEqual(["data.bin"]);
          expect(await sha256File(join(into, "data.bin"))).toBe(await sha256File(medium));
          return `recovered (${retries} retr${retries === 1 ? "y" : "ies"}), bytes intact`;
        } finally {
          client.close();
          await proxy.delete();
        }
      },
    );

    hardeningCase("latency 50 ms", "50 ms of latency each way: a round trip is whole", async () => {
      const { proxy, configuration } = await throughProxy();
      try {
        await proxy.add("up", { type: "latency", stream: "upstream", attributes: { latency: 50 } });
        await proxy.add("down", {
          type: "latency",
          stream: "downstream",
          attributes: { latency: 50 },
        });
        const started = performance.now();
        await roundTripThrough(configuration, key("net/latency"), small);
        return `ok, bytes intact (${seconds(started)} s)`;
      } finally {
        await proxy.delete();
      }
    });

    hardeningCase("bandwidth 1 MiB/s", "1 MiB/s each way: a round trip is whole", async () => {
      const { proxy, configuration } = await throughProxy();
      try {
        await proxy.add("up", bw("upstream", 1024));
        await proxy.add("down", bw("downstream", 1024));
        const source = join(kit.work, "net-bandwidth.bin");
        await writeRandomFile(source, 768 * 1024);
        const started = performance.now();
        await roundTripThrough(configuration, key("net/bandwidth"), source);
        return `ok, bytes intact (${seconds(started)} s)`;
      } finally {
        await proxy.delete();
      }
    });

    hardeningCase(
      "stall past the timeout",
      "a backend that goes silent mid-Save: the call ends cleanly, nothing at the key, and the server keeps serving",
      async () => {
        const field = route.silenceTimeoutField;
        const { proxy, configuration } = await throughProxy(
          field ? `${NO_RETRY}\n${field}: 1` : NO_RETRY,
        );
        const client = plugin.client(configuration);
        const prefix = key("net/stall");
        try {
          expect(await client.isDirectory(prefix)).toBe(false);
          // Nothing gets through either way, and connections stay open: a backend gone silent.
          for (const stream of ["upstream", "downstream"] as const) {
            await proxy.add(`silence-${stream}`, {
              type: "timeout",
              stream,
              attributes: { timeout: 0 },
            });
          }
          const from = plugin.logs.length;
          const started = performance.now();
          // Without a driver timeout, the client gives up after 3 s, as argo-server's request would.
          const cancel = field ? undefined : AbortSignal.timeout(3000);
          let message = "";
          try {
            await client.save(`${prefix}/data.bin`, small, cancel ? { signal: cancel } : {});
          } catch (error) {
            message = error instanceof Error ? error.message : String(error);
          }
          expect(message, "the stalled Save should have failed").not.toBe("");
          if (field) expect(message).toContain(`${prefix}/data.bin`);
          // The server's side of the call has ended too, not only the client's.
          const deadline = Date.now() + 8000;
          while (!plugin.logs.slice(from).some((line) => /"msg":"Save failed"/.test(line))) {
            if (Date.now() > deadline) throw new Error("the plugin's Save did not end within 8 s");
            await sleep(20);
          }
          const took = seconds(started);
          // Two tries of a 1 s silence timeout, plus any reconnect: seconds, not minutes.
          if (field) expect(Number(took), `${field}: 1 was not applied`).toBeLessThan(20);
          await proxy.remove("silence-upstream");
          await proxy.remove("silence-downstream");
          expect(await backend.snapshot(prefix), "nothing partial at the key").toEqual(new Map());
          await roundTripThrough(configuration, `${prefix}-after`, small);
          const how = field ? `${field}: 1` : "client gave up after 3 s";
          return `failed cleanly in ${took} s (${how}, ${errorCode(message)}), nothing at the key; served after`;
        } finally {
          client.close();
          await proxy.delete();
        }
      },
    );
  });
}

function bw(stream: "upstream" | "downstream", kilobytesPerSecond: number) {
  return { type: "bandwidth" as const, stream, attributes: { rate: kilobytesPerSecond } };
}

function seconds(started: number): string {
  return ((performance.now() - started) / 1000).toFixed(1);
}

/** The error code in brackets that ends the core's message, before its hint. */
function errorCode(message: string): string {
  return /\[([a-z-]+)\]\./.exec(message)?.[1] ?? "error";
}
