import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * MD5 of large transfers, computed on a worker thread. Hashing costs about
 * as much CPU as receiving the bytes, and the main thread also frames gRPC
 * and drives the HTTP transfer, so on a second core it runs beside them
 * instead of in turn. Small transfers hash inline: a worker costs ~30 ms and
 * ~10 MiB to start.
 *
 * Buffers go back and forth instead of being allocated per message: garbage
 * buffers are only reclaimed once tens of MiB have piled up, which would
 * show as peak memory.
 */
export const WORKER_THRESHOLD = 64 * 1024 * 1024;
/** Bytes gathered into one message to the worker. */
const BATCH_BYTES = 1024 * 1024;
/** Batches handed to the worker and not yet hashed, before the sender waits. */
const MAX_BATCHES = 8;

// CommonJS run by `new Worker(..., { eval: true })`, so that bundling the
// driver needs no separate worker file. With a path in workerData it hashes
// that file (synchronous reads into one buffer: this thread has nothing else
// to do) and answers once with the digest. Otherwise each message is a batch
// to hash, sent back empty-handed (transferred) for reuse, or "digest".
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hash = createHash("md5");
if (workerData.path) {
  const fs = require("node:fs");
  try {
    const fd = fs.openSync(workerData.path, "r");
    const buffer = Buffer.allocUnsafe(2 * 1024 * 1024);
    for (let read; (read = fs.readSync(fd, buffer)) > 0; ) hash.update(buffer.subarray(0, read));
    fs.closeSync(fd);
    parentPort.postMessage({ digest: hash.digest() });
  } catch (error) {
    parentPort.postMessage({ error: error.message });
  }
} else {
  parentPort.on("message", (message) => {
    if (message === "digest") return parentPort.postMessage({ digest: hash.digest() });
    hash.update(new Uint8Array(message.buffer, 0, message.length));
    parentPort.postMessage({ buffer: message.buffer }, [message.buffer]);
  });
}
`;

export interface Md5 {
  /** Adds bytes in order; resolves at once unless too many are waiting to be hashed. */
  update(chunk: Buffer): Promise<void> | undefined;
  digest(): Promise<Buffer>;
  /** Stops the worker, if any; safe to call more than once. */
  close(): void;
}

/** An incremental MD5 for `size` bytes: on a worker when large. */
export function md5For(size: number): Md5 {
  if (size < WORKER_THRESHOLD) {
    const hash = createHash("md5");
    return {
      update: (chunk) => void hash.update(chunk),
      digest: async () => hash.digest(),
      close: () => undefined,
    };
  }
  return new WorkerMd5();
}

/** The MD5 of a file, read and hashed on a worker when large. */
export async function md5File(path: string, size: number, signal: AbortSignal): Promise<Buffer> {
  if (size < WORKER_THRESHOLD) {
    const hash = createHash("md5");
    for await (const chunk of createReadStream(path, { highWaterMark: 2 * 1024 * 1024, signal })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest();
  }
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path } });
  const stop = () => void worker.terminate();
  signal.addEventListener("abort", stop, { once: true });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      worker.once("error", reject);
      worker.once("exit", () => reject(signal.reason ?? new Error("the MD5 worker stopped")));
      worker.once("message", (message: { digest?: Uint8Array; error?: string }) => {
        if (message.digest) resolve(Buffer.from(message.digest));
        else reject(new Error(`reading ${path} to hash it: ${message.error}`));
      });
    });
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
  }
}

class WorkerMd5 implements Md5 {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true, workerData: {} });
  /** Empty batch buffers, returned by the worker. */
  private readonly spare: ArrayBuffer[] = [];
  private batch = new Uint8Array(BATCH_BYTES);
  private batched = 0;
  private inWorker = 0;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;
  private result: { resolve: (digest: Buffer) => void; reject: (error: Error) => void } | undefined;

  constructor() {
    this.worker.on("message", (message: { buffer?: ArrayBuffer; digest?: Uint8Array }) => {
      if (message.digest) {
        this.result?.resolve(Buffer.from(message.digest));
        return;
      }
      if (message.buffer) this.spare.push(message.buffer);
      this.inWorker--;
      if (this.inWorker <= MAX_BATCHES / 2) this.wake();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.result?.reject(this.failure);
      this.wake();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", () => fail(new Error("the MD5 worker stopped")));
  }

  /** Copies the bytes into a batch, moved to the worker when full, so the caller may pass the chunk on at once. */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, BATCH_BYTES - this.batched);
      this.batch.set(chunk.subarray(offset, offset + take), this.batched);
      this.batched += take;
      offset += take;
      if (this.batched === BATCH_BYTES) this.flush();
    }
    if (this.inWorker <= MAX_BATCHES) return undefined;
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  digest(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    this.flush();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker.postMessage("digest");
    });
  }

  close(): void {
    this.worker.removeAllListeners("exit");
    void this.worker.terminate();
  }

  private flush(): void {
    if (this.batched === 0) return;
    const { buffer } = this.batch;
    this.worker.postMessage({ buffer, length: this.batched }, [buffer]);
    this.inWorker++;
    const spare = this.spare.pop();
    this.batch = spare ? new Uint8Array(spare) : new Uint8Array(BATCH_BYTES);
    this.batched = 0;
  }

  private wake(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }
}
