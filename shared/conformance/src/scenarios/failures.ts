import { existsSync } from "node:fs";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isTempName } from "@argo-artifact-drivers/core";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { BackendView } from "../backend.js";
import type { CallRecord, FaultPlan } from "../faults.js";
import { startFaultyPlugin } from "../faulty-plugin.js";
import { sha256File, treeDigest, writeTree } from "../files.js";
import { expectFailure, type Kit } from "../kit.js";

/** How long the backend is watched after a failed call for writes that should have stopped. */
const WATCH_MS = 3000;
/** The file of a 200-file tree that stalls in the second-signal scenario. */
const FAILING_FILE = "100-plain.txt";

/**
 * The core's failure paths against the real backend: the driver's plugin
 * with the kit's fault injector around its adapter, and the backend inspected
 * directly through the driver's own adapter.
 */
export function failureScenarios(kit: Kit): void {
  const { key, scenario } = kit;
  let backend: BackendView;

  const faultyPlugin = (name: string, plan: FaultPlan) => startFaultyPlugin(kit, name, plan);

  /** Every adapter call recorded had ended by `answeredAt`. */
  function expectSettledBefore(records: CallRecord[], answeredAt: number): void {
    const starts = records.filter((r) => r.phase === "start").length;
    const ends = records.filter((r) => r.phase === "end");
    expect(ends.length, "every adapter call that started has ended").toBe(starts);
    const late = ends.filter((r) => r.at > answeredAt);
    expect(late, "adapter calls that ended after the call had answered").toEqual([]);
  }

  describe("failures (fault injection around the real adapter)", () => {
    beforeAll(async () => {
      backend = await BackendView.open(kit.options, kit.configuration);
    });
    afterAll(async () => {
      await backend?.close();
    });

    scenario(
      "a failure in one file of a 200-file Save leaves nothing half-written, and no write outlives the answer",
      [],
      async () => {
        const tree = join(kit.work, "failing-save-tree");
        await writeTree(tree, 200);
        const { plugin, records } = await faultyPlugin("save", {
          rules: [
            // The 21st transfer fails, in the middle of a round of 8, while its siblings are in flight.
            { methods: ["write", "writeFromFile"], skip: 20, times: 1, error: "permission-denied" },
            // Siblings that take a while to notice the failure, as uninterruptible SDK calls do.
            { methods: ["write", "writeFromFile"], stallMs: 400, ignoreSignal: true },
          ],
        });
        const client = plugin.client(kit.configuration);
        try {
          const prefix = key("failures/save-tree");
          await expectFailure(client.save(prefix, tree), prefix, /injected fault/);
          const answeredAt = Date.now();
          const before = await backend.snapshot(prefix);
          await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
          expectSettledBefore(await records(), answeredAt);
          expect(await backend.snapshot(prefix), "the backend changed after the answer").toEqual(
            before,
          );
          const source = await treeDigest(tree);
          for (const [objectKey, digest] of before) {
            expect(objectKey.split("/").some(isTempName), `temp object ${objectKey}`).toBe(false);
            expect(digest, `${objectKey} is not a whole copy of its file`).toBe(
              source.get(objectKey.slice(prefix.length + 1)),
            );
          }
          expect(before.size).toBeLessThan(source.size);
        } finally {
          client.close();
          await plugin.stop();
        }
      },
    );

    scenario(
      "a failure in one object of a 200-file Load leaves nothing at the path, and no write outlives the answer",
      [],
      async () => {
        const tree = join(kit.work, "failing-load-tree");
        await writeTree(tree, 200);
        const prefix = key("failures/load-tree");
        await kit.client.save(prefix, tree);
        const { plugin, records } = await faultyPlugin("load", {
          rules: [
            // The 21st transfer fails, in the middle of a round of 8, while its siblings are in flight.
            { methods: ["read", "readToFile"], skip: 20, times: 1, error: "permission-denied" },
            // Siblings that take a while to notice the failure, as uninterruptible SDK calls do.
            { methods: ["read", "readToFile"], stallMs: 400, ignoreSignal: true },
          ],
        });
        const client = plugin.client(kit.configuration);
        try {
          const into = await mkdtemp(join(kit.work, "failing-load-"));
          await expectFailure(client.load(prefix, join(into, "tree")), prefix, /injected fault/);
          const answeredAt = Date.now();
          expect(await readdir(into)).toEqual([]);
          await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
          expectSettledBefore(await records(), answeredAt);
          expect(await readdir(into), "something was written after the answer").toEqual([]);
        } finally {
          client.close();
          await plugin.stop();
        }
      },
    );

    scenario(
      "transient failures are retried as configured, and retries never nest",
      [],
      async () => {
        const source = join(kit.work, "retried.bin");
        await writeFile(source, "retried\n");
        await kit.client.save(key("failures/retried.bin"), source);
        await kit.client.save(key("failures/hopeless.bin"), source);
        const { plugin, records } = await faultyPlugin("retry", {
          rules: [
            {
              methods: ["read", "readToFile"],
              keyIncludes: "retried.bin",
              times: 2,
              error: "transient",
            },
            { methods: ["read", "readToFile"], keyIncludes: "hopeless.bin", error: "transient" },
          ],
        });
        const configuration = `${kit.configuration}\nretry:\n  attempts: 4\n  initialDelaySeconds: 0.05\n`;
        const client = plugin.client(configuration);
        try {
          const into = await mkdtemp(join(kit.work, "retried-"));
          await client.load(key("failures/retried.bin"), join(into, "retried.bin"));
          expect(await sha256File(join(into, "retried.bin"))).toBe(await sha256File(source));
          const hopeless = key("failures/hopeless.bin");
          await expectFailure(
            client.load(hopeless, join(into, "hopeless.bin")),
            hopeless,
            /after 4 tries/,
          );
          const tries = (name: string) =>
            records().then(
              (all) =>
                all.filter(
                  (r) =>
                    r.phase === "start" &&
                    (r.method === "read" || r.method === "readToFile") &&
                    r.key.endsWith(name),
                ).length,
            );
          expect(await tries("retried.bin")).toBe(3);
          expect(await tries("hopeless.bin")).toBe(4);
          expect(await readdir(into)).toEqual(["retried.bin"]);
        } finally {
          client.close();
          await plugin.stop();
        }
      },
    );

    scenario(
      "a stalled backend call ends when the client cancels, and the server keeps serving",
      [],
      async () => {
        const source = join(kit.work, "stalled.bin");
        await writeFile(source, "stalled\n");
        await kit.client.save(key("failures/stalled.bin"), source);
        const { plugin, records } = await faultyPlugin("stall", {
          rules: [{ methods: ["read"], keyIncludes: "stalled.bin", stallMs: 120_000 }],
        });
        const client = plugin.client(kit.configuration);
        try {
          const cancel = new AbortController();
          const reading = (async () => {
            for await (const _ of client.openStream(key("failures/stalled.bin"), {
              signal: cancel.signal,
            }));
          })();
          await waitFor(async () => (await records()).some((r) => r.method === "read"));
          cancel.abort();
          await reading.catch(() => undefined);
          await waitFor(async () =>
            (await records()).some((r) => r.method === "read" && r.phase === "end"),
          );
          expect(await client.isDirectory(key("failures"))).toBe(true);
        } finally {
          client.close();
          await plugin.stop();
        }
      },
    );

    scenario(
      "a second SIGTERM cancels a stalled Load at once, and its temp folder is removed before exit 0",
      [],
      async () => {
        const tree = join(kit.work, "second-signal-tree");
        await writeTree(tree, 200);
        const prefix = key("failures/second-signal");
        await kit.client.save(prefix, tree);
        const { plugin, records } = await faultyPlugin("signal", {
          rules: [{ methods: ["read", "readToFile"], keyIncludes: FAILING_FILE, stallMs: 120_000 }],
        });
        const client = plugin.client(kit.configuration);
        try {
          const into = await mkdtemp(join(kit.work, "second-signal-"));
          client.load(prefix, join(into, "tree")).catch(() => undefined);
          // Stalled on one file while the others have landed in the temp folder.
          await waitFor(
            async () => (await records()).filter((r) => r.phase === "end").length >= 150,
          );
          expect((await readdir(into)).length, "the Load's temp folder exists").toBe(1);
          plugin.child.kill("SIGTERM");
          await new Promise((resolve) => setTimeout(resolve, 500));
          expect(plugin.child.exitCode, "still draining after the first SIGTERM").toBeNull();
          const started = Date.now();
          expect(await plugin.stop("SIGTERM", 5000)).toBe(0);
          expect(Date.now() - started).toBeLessThan(5000);
          expect(existsSync(plugin.socketPath)).toBe(false);
          expect(await readdir(into)).toEqual([]);
        } finally {
          client.close();
        }
      },
    );
  });
}

export async function waitFor(
  condition: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
