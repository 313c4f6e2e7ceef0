import type { Readable } from "node:stream";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { OpenStreamRequest, OpenStreamResponse } from "./generated/artifact.js";

/**
 * OpenStream frame size: under gRPC's 4 MiB default message limit, and the
 * upper end of what Argo expects (1-2 MiB), which streamed about 30% faster
 * than 1 MiB frames.
 */
export const FRAME_BYTES = 2 * 1024 * 1024;
/** Frames handed to gRPC but not yet flushed; bounds memory whatever the artifact's size. */
const FRAMES_IN_FLIGHT = 2;

/**
 * Re-chunks a byte stream into OpenStream frames of FRAME_BYTES and keeps at
 * most FRAMES_IN_FLIGHT of them queued in gRPC: a slow client slows the
 * source down instead of growing the server's memory.
 */
export class FrameWriter {
  private inFlight = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly call: ServerWritableStream<OpenStreamRequest, OpenStreamResponse>,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", () => this.wake?.(), { once: true });
  }

  async sendAll(source: Readable): Promise<number> {
    let total = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        while (pendingBytes >= FRAME_BYTES) {
          const joined =
            pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
          await this.send(joined.subarray(0, FRAME_BYTES));
          total += FRAME_BYTES;
          const rest = joined.subarray(FRAME_BYTES);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      }
      if (pendingBytes > 0) {
        await this.send(Buffer.concat(pending, pendingBytes));
        total += pendingBytes;
      }
      return total;
    } finally {
      source.destroy();
    }
  }

  /** Sends the last frame (end or error) and ends the call. */
  async finish(last: OpenStreamResponse): Promise<void> {
    if (this.signal.aborted) return;
    this.call.write(last);
    this.call.end();
  }

  private async send(data: Buffer): Promise<void> {
    while (this.inFlight >= FRAMES_IN_FLIGHT) {
      if (this.signal.aborted) throw this.signal.reason;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    if (this.signal.aborted) throw this.signal.reason;
    this.inFlight++;
    this.call.write({ data, isEnd: false, error: "" }, () => {
      this.inFlight--;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }
}

/**
 * `promise`, or the abort reason if `signal` fires first. (Not `Promise.race`
 * with one long-lived abort promise: every race leaves a reaction on it that
 * holds its result, so memory grows with every chunk of an artifact.)
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The next frame, or the abort reason if the call is cancelled first: grpc-js
 * destroys a cancelled call's stream without ending its iterator, so a write
 * would otherwise wait forever.
 */
export function nextUnlessAborted<T>(
  frames: AsyncIterator<T>,
  signal: AbortSignal,
): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return unlessAborted(frames.next(), signal);
}
