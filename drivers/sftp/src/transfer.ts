import type { FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { type AdapterContext, DriverError, unlessAborted } from "@argo-artifact-drivers/core";
import type { Session } from "./connection.js";
import { SFTP_STATUS, statusOf } from "./errors.js";

/**
 * Pipelined SFTP transfers: several read or write requests of one file in
 * flight at once, since one request at a time waits a round trip per chunk.
 * ssh2's own streams keep a single request in flight.
 */
export const CHUNK_SIZE = 128 * 1024;
export const REQUESTS_IN_FLIGHT = 16;

/** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 at the end of the file. */
export function readAt(
  session: Session,
  handle: Buffer,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return session.request<number>((sftp, done) =>
    sftp.read(handle, buffer, offset, length, position, (error, bytesRead) => {
      if (error && statusOf(error) === SFTP_STATUS.EOF) done(undefined, 0);
      else done(error, bytesRead);
    }),
  );
}

/** Writes `buffer` at `position`. */
export function writeAt(
  session: Session,
  handle: Buffer,
  buffer: Buffer,
  position: number,
): Promise<void> {
  return session.request<void>((sftp, done) =>
    sftp.write(handle, buffer, 0, buffer.length, position, (error) => done(error)),
  );
}

interface PendingRead {
  offset: number;
  length: number;
  data: Promise<Buffer>;
}

/** Reads `[0, size)` of an open handle in order, with bounded read-ahead; closes the handle at the end. */
export class PipelinedReadStream extends Readable {
  private readonly pending: PendingRead[] = [];
  private nextOffset = 0;
  private reading = false;
  private handleClosed = false;

  constructor(
    private readonly session: Session,
    private readonly handle: Buffer,
    private readonly size: number,
    private readonly path: string,
    private readonly translate: (error: unknown) => Error,
  ) {
    super({ highWaterMark: CHUNK_SIZE * 2 });
    this.fill();
  }

  private fill(): void {
    while (this.pending.length < REQUESTS_IN_FLIGHT && this.nextOffset < this.size) {
      const length = Math.min(CHUNK_SIZE, this.size - this.nextOffset);
      this.pending.push(this.request(this.nextOffset, length));
      this.nextOffset += length;
    }
  }

  private request(offset: number, length: number): PendingRead {
    // A fresh buffer per chunk: it is pushed downstream and may live on there.
    const buffer = Buffer.allocUnsafe(length);
    const data = readAt(this.session, this.handle, buffer, 0, length, offset).then((bytesRead) =>
      buffer.subarray(0, bytesRead),
    );
    // Failures surface when the chunk's turn comes; avoid unhandled rejections before that.
    data.catch(() => undefined);
    return { offset, length, data };
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const head = this.pending[0];
        if (!head) {
          await this.closeHandle();
          this.push(null);
          return;
        }
        const chunk = await head.data;
        if (this.destroyed) return;
        if (chunk.length === 0) {
          throw new Error(
            `"${this.path}" ended at byte ${head.offset} of ${this.size}: it was truncated while being read`,
          );
        }
        if (chunk.length < head.length) {
          // A short read: ask for the rest of this range before anything after it.
          this.pending[0] = this.request(head.offset + chunk.length, head.length - chunk.length);
        } else {
          this.pending.shift();
        }
        this.fill();
        if (!this.push(chunk)) {
          this.reading = false;
          return;
        }
      }
    } catch (error) {
      this.destroy(this.translate(error));
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The reads already sent are answered before the handle closes and the stream says it closed.
    const sent = this.pending.splice(0).map((read) => read.data);
    Promise.allSettled(sent)
      .then(() => this.closeHandle())
      .then(
        () => callback(error),
        () => callback(error),
      );
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return;
    this.handleClosed = true;
    await this.session
      .request<void>((sftp, done) => sftp.close(this.handle, done))
      .catch(() => undefined);
  }
}

/**
 * Writes everything `body` yields to an open handle from offset 0, with up to
 * REQUESTS_IN_FLIGHT writes outstanding. Stops at the first failure or when
 * `signal` fires, even while waiting for the body (which is then destroyed),
 * and returns only after every write sent has been answered, so the caller
 * may close the handle.
 */
export async function pipelinedWrite(
  session: Session,
  handle: Buffer,
  body: Readable,
  signal: AbortSignal,
): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  // Fires on cancellation or on the first failed write, to stop waiting for the body.
  const halt = new AbortController();
  const onAbort = () => halt.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let offset = 0;
  const send = (buffer: Buffer, position: number) => {
    const request = writeAt(session, handle, buffer, position)
      .catch((error: unknown) => {
        failure ??= { error };
        halt.abort(error);
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  const pieces = (body as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let complete = false;
  try {
    signal.throwIfAborted();
    for (;;) {
      const piece = await unlessAborted(pieces.next(), halt.signal);
      if (piece.done) break;
      const buffer = typeof piece.value === "string" ? Buffer.from(piece.value) : piece.value;
      for (let start = 0; start < buffer.length; start += CHUNK_SIZE) {
        const slice = buffer.subarray(start, Math.min(start + CHUNK_SIZE, buffer.length));
        send(slice, offset);
        offset += slice.length;
        while (inFlight.size >= REQUESTS_IN_FLIGHT)
          await unlessAborted(Promise.race(inFlight), halt.signal);
      }
    }
    complete = true;
  } catch (error) {
    if (!failure) throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!complete) body.destroy();
    await Promise.all(inFlight);
  }
  if (failure) throw failure.error;
  signal.throwIfAborted();
  return offset;
}

/** Copies one range between a remote handle and a local file, through `buffer`. */
type CopyChunk = (buffer: Buffer, position: number, length: number) => Promise<void>;

/**
 * Runs `copy` for every CHUNK_SIZE range of `[0, size)`, REQUESTS_IN_FLIGHT at
 * once through the core's `parallel` (the first failure or the signal stops
 * the rest, and it settles only once every range in flight has). Each range
 * borrows one of REQUESTS_IN_FLIGHT buffers, so a file of any size costs
 * 2 MiB and leaves no garbage behind.
 */
async function copyRanges(
  size: number,
  copy: CopyChunk,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  const free: Buffer[] = [];
  function* ranges() {
    for (let position = 0; position < size; position += CHUNK_SIZE) yield position;
  }
  await parallel(
    ranges(),
    async (position, { signal: stop }) => {
      const buffer = free.pop() ?? Buffer.allocUnsafe(CHUNK_SIZE);
      try {
        stop.throwIfAborted();
        await copy(buffer, position, Math.min(CHUNK_SIZE, size - position));
      } finally {
        free.push(buffer);
      }
    },
    { signal, concurrency: REQUESTS_IN_FLIGHT },
  );
}

/** Reads `[0, size)` of a remote handle into the local file `local` (positional writes, any order). */
export function pipelinedDownload(
  session: Session,
  handle: Buffer,
  size: number,
  local: FileHandle,
  path: string,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  return copyRanges(
    size,
    async (buffer, position, length) => {
      for (let done = 0; done < length; ) {
        const read = await readAt(session, handle, buffer, done, length - done, position + done);
        if (read === 0) {
          throw new DriverError(
            "transient",
            `"${path}" ended at byte ${position + done} of ${size}: it was truncated while being read`,
          );
        }
        done += read;
      }
      await local.write(buffer, 0, length, position);
    },
    parallel,
    signal,
  );
}

/** Writes `[0, size)` of the local file `local` to a remote handle. */
export function pipelinedUpload(
  session: Session,
  handle: Buffer,
  size: number,
  local: FileHandle,
  parallel: AdapterContext["parallel"],
  signal: AbortSignal,
): Promise<void> {
  return copyRanges(
    size,
    async (buffer, position, length) => {
      const { bytesRead } = await local.read(buffer, 0, length, position);
      if (bytesRead !== length) {
        throw new DriverError(
          "conflict",
          `the local file shrank to ${position + bytesRead} bytes while being uploaded`,
        );
      }
      await writeAt(session, handle, buffer.subarray(0, length), position);
    },
    parallel,
    signal,
  );
}
