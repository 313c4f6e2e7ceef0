import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { md5File, md5For, WORKER_THRESHOLD } from "../src/md5.js";

const reference = (data: Buffer) => createHash("md5").update(data).digest("hex");

describe("MD5 on a worker thread for large transfers", () => {
  const data = randomBytes(WORKER_THRESHOLD + 777);

  it("hashes chunks of any size, in order, like one createHash", async () => {
    for (const size of [WORKER_THRESHOLD - 1, WORKER_THRESHOLD + 777]) {
      const md5 = md5For(size);
      try {
        // Chunk sizes that straddle the worker's 1 MiB batches.
        for (
          let offset = 0, step = 1;
          offset < size;
          offset += step, step = ((step * 7 + 13) % 3_000_000) + 1
        ) {
          await md5.update(data.subarray(offset, Math.min(size, offset + step)));
        }
        expect((await md5.digest()).toString("hex")).toBe(reference(data.subarray(0, size)));
      } finally {
        md5.close();
      }
    }
  });

  it("hashes a file, small or large", async () => {
    const work = await mkdtemp(join(tmpdir(), "azure-md5-"));
    try {
      const file = join(work, "data.bin");
      await writeFile(file, data);
      const signal = new AbortController().signal;
      expect((await md5File(file, data.length, signal)).toString("hex")).toBe(reference(data));
      await writeFile(file, data.subarray(0, 1000));
      expect((await md5File(file, 1000, signal)).toString("hex")).toBe(
        reference(data.subarray(0, 1000)),
      );
      await expect(md5File(join(work, "missing"), data.length, signal)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
