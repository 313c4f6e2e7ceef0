import { Readable } from "node:stream";
import type { Session } from "./connection.js";
import { SFTP_STATUS, statusOf } from "./errors.js";

/**
 * Pipelined SFTP transfers: several read or write requests of one file in
 * flight at once, since one request at a time waits a round trip per chunk.
 * ssh2's own streams keep a single request in flight.
 */
export const CHUNK_SIZE = 128 * 1024;
export const REQUESTS_IN_FLIGHT = 16;

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
    const data = this.session.request<Buffer>((sftp, done) => {
      const buffer = Buffer.allocUnsafe(length);
      sftp.read(this.handle, buffer, 0, length, offset, (error, bytesRead) => {
        if (error && statusOf(error) === SFTP_STATUS.EOF) done(undefined, buffer.subarray(0, 0));
        else if (error) done(error);
        else done(undefined, buffer.subarray(0, bytesRead));
      });
    });
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
    this.pending.length = 0;
    this.closeHandle().then(
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
 * Writes everything `source` yields to an open handle from offset 0, with up
 * to REQUESTS_IN_FLIGHT writes outstanding. Stops at the first failure or abort.
 */
export async function pipelinedWrite(
  session: Session,
  handle: Buffer,
  source: AsyncIterable<Buffer | string>,
  signal: AbortSignal,
): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let offset = 0;
  const write = (buffer: Buffer, position: number) => {
    const request = session
      .request<void>((sftp, done) =>
        sftp.write(handle, buffer, 0, buffer.length, position, (error) => done(error)),
      )
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  try {
    for await (const piece of source) {
      const buffer = typeof piece === "string" ? Buffer.from(piece) : piece;
      for (let start = 0; start < buffer.length; start += CHUNK_SIZE) {
        signal.throwIfAborted();
        if (failure) throw failure;
        const slice = buffer.subarray(start, Math.min(start + CHUNK_SIZE, buffer.length));
        write(slice, offset);
        offset += slice.length;
        while (inFlight.size >= REQUESTS_IN_FLIGHT) await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    signal.throwIfAborted();
    return offset;
  } finally {
    // Never leave writes running against a handle the caller is about to close.
    await Promise.all(inFlight);
  }
}
