import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { parallel } from "../src/parallel.js";

describe("parallel", () => {
  it("runs at most `concurrency` at once and every item once", async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await parallel(
      Array.from({ length: 40 }, (_, i) => i),
      async (item) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(2);
        seen.push(item);
        running--;
      },
      { signal: new AbortController().signal, concurrency: 5 },
    );
    expect(peak).toBe(5);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it("settles only after every sibling has, aborting them on the first failure", async () => {
    const settled: number[] = [];
    const aborted: number[] = [];
    let rejectedAt = 0;
    const run = parallel(
      Array.from({ length: 15 }, (_, i) => i),
      async (item, { signal }) => {
        if (item === 3) throw new Error("item 3 failed");
        // Siblings that notice the abort late, like an SDK call in progress.
        await sleep(50);
        if (signal.aborted) aborted.push(item);
        settled.push(item);
      },
      { signal: new AbortController().signal, concurrency: 8 },
    ).catch((error: Error) => {
      rejectedAt = settled.length;
      throw error;
    });
    await expect(run).rejects.toThrow("item 3 failed");
    // Items 0-2 and 4-7 were in flight when item 3 failed; none started after.
    expect(rejectedAt).toBe(7);
    expect(aborted.sort()).toEqual([0, 1, 2, 4, 5, 6, 7]);
  });

  it("stops taking items from an async source after a failure and closes it", async () => {
    let closed = false;
    let produced = 0;
    async function* source() {
      try {
        for (;;) {
          produced++;
          yield produced;
        }
      } finally {
        closed = true;
      }
    }
    await expect(
      parallel(
        source(),
        async (item) => {
          if (item === 10) throw new Error("stop");
          await sleep(1);
        },
        { signal: new AbortController().signal, concurrency: 4 },
      ),
    ).rejects.toThrow("stop");
    expect(closed).toBe(true);
    expect(produced).toBeLessThan(20);
  });

  it("rejects with the caller's reason when the caller aborts", async () => {
    const caller = new AbortController();
    const run = parallel(
      [1, 2, 3],
      async (_item, { signal }) => {
        await sleep(1000, undefined, { signal });
      },
      { signal: caller.signal, concurrency: 3 },
    );
    caller.abort(new Error("cancelled by the client"));
    await expect(run).rejects.toThrow();
  });
});
