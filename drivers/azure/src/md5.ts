import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * MD5 of large transfers, computed on a worker thread. Hashing costs about
 * as much CPU as receiving the bytes, and the main thread also frames gRPC
 * and drives the HTTP transfer, so on a second core it runs beside them
 * instead of in turn. Small transfers hash inline: a worker costs ~30 ms and
 * ~10 MiB to start.
 */
export const WORKER_THRESHOLD = 64 * 1024 * 1024;
/** Bytes handed to the worker and not yet hashed, before the sender waits. */
const MAX_PENDING = 16 * 1024 * 1024;
/** Bytes gathered into one message to the worker. */
const BATCH_BYTES = 1024 * 1024;

// CommonJS run by `new Worker(..., { eval: true })`, so that bundling the
// driver needs no separate worker file. Messages: a chunk to hash (answered
// with its length once hashed), or "digest". With a path in workerData, it
// hashes that file instead and answers once with the digest.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hash = createHash("md5");
if (workerData.path) {
  const stream = require("node:fs").createReadStream(workerData.path, { highWaterMark: 2 * 1024 * 1024 });
  stream.on("data", (chunk) => hash.update(chunk));
  stream.on("error", (error) => parentPort.postMessage({ error: error.message }));
  stream.on("end", () => parentPort.postMessage({ digest: hash.digest() }));
} else {
  parentPort.on("message", (message) => {
    if (message === "digest") parentPort.postMessage({ digest: hash.digest() });
    else {
      hash.update(message);
      parentPort.postMessage({ hashed: message.length });
    }
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
  private batch = new Uint8Array(BATCH_BYTES);
  private batched = 0;
  private pending = 0;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;
  private result: { resolve: (digest: Buffer) => void; reject: (error: Error) => void } | undefined;

  constructor() {
    this.worker.on("message", (message: { hashed?: number; digest?: Uint8Array }) => {
      if (message.digest) {
        this.result?.resolve(Buffer.from(message.digest));
        return;
      }
      this.pending -= message.hashed ?? 0;
      if (this.pending <= MAX_PENDING / 2) this.wake();
    });
    this.worker.on("error", (error) => {
      this.failure = error;
      this.result?.reject(error);
      this.wake();
    });
  }

  /**
   * Copies the bytes into a batch that is moved (not copied again) to the
   * worker when full, so the caller may pass the chunk on at once.
   */
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
    if (this.pending <= MAX_PENDING) return undefined;
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

  private flush(): void {
    if (this.batched === 0) return;
    const full = this.batched === BATCH_BYTES ? this.batch : this.batch.slice(0, this.batched);
    this.worker.postMessage(full, [full.buffer]);
    this.pending += full.length;
    this.batch = new Uint8Array(BATCH_BYTES);
    this.batched = 0;
  }

  close(): void {
    void this.worker.terminate();
  }

  private wake(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }
}
