import type { Readable } from "node:stream";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { OpenStreamRequest, OpenStreamResponse } from "./generated/artifact.js";
import { type FrameBuffer, FramePool, frameView } from "./wire.js";

/**
 * OpenStream frame size: under gRPC's 4 MiB default message limit, and the
 * upper end of what Argo expects (1-2 MiB), which streamed about 30% faster
 * than 1 MiB frames.
 */
export const FRAME_BYTES = 2 * 1024 * 1024;
/** Frames of one stream handed to gRPC but not yet flushed. */
const FRAMES_IN_FLIGHT = 2;
/**
 * Frames being filled or in gRPC's hands, over all streams of the server:
 * each is one 2 MiB buffer (two when gRPC copies; see wire.ts), so OpenStream
 * memory stays near this x 2 MiB however many streams are open (64
 * concurrent streams of one 8 MiB object peaked at 693 MiB without it).
 * Streams beyond it wait their turn; a stream never holds more than
 * FRAMES_IN_FLIGHT.
 */
export const SERVER_FRAMES = 16;

/**
 * Counted permits handed out in request order: a waiter is served before
 * later ones even when fewer permits would fit, so large users are not starved.
 */
export class Budget {
  private used = 0;
  private readonly waiters: { resolve: () => void; reject: (reason: unknown) => void }[] = [];

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.waiters.length === 0 && this.used < this.limit) {
      this.used++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    // The permit passes straight to the next waiter: `used` is unchanged.
    if (next) next.resolve();
    else this.used--;
  }
}

/** The server's frame budget and its reusable frame buffers. */
const serverFrames = new Budget(SERVER_FRAMES);
const serverPool = new FramePool(FRAME_BYTES, SERVER_FRAMES);

/** One frame's claim on the budget, released once, whichever comes first: gRPC flushed it, or the call closed. */
interface Permit {
  released: boolean;
}

/**
 * Re-chunks a byte stream into OpenStream frames of FRAME_BYTES, copied
 * once, straight into a pooled buffer that already has room for the
 * protobuf and gRPC headers (wire.ts then hands it to gRPC without another
 * copy, and it returns to the pool once gRPC has sent it). At most FRAMES_IN_FLIGHT frames of this stream wait in gRPC (a
 * slow client slows the source down) and the server-wide budget bounds all
 * streams together.
 */
export class FrameWriter {
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private readonly permits = new Set<Permit>();

  constructor(
    private readonly call: ServerWritableStream<OpenStreamRequest, OpenStreamResponse>,
    private readonly signal: AbortSignal,
    private readonly budget: Budget = serverFrames,
    private readonly pool: FramePool = serverPool,
  ) {
    signal.addEventListener("abort", () => this.wake?.(), { once: true });
    // grpc-js never calls the write callback of a cancelled call: what it
    // still holds is dropped with the call, so its permits come back here.
    const releaseAll = () => {
      for (const permit of this.permits) this.releasePermit(permit);
    };
    signal.addEventListener("abort", releaseAll, { once: true });
    call.once?.("close", releaseAll);
  }

  async sendAll(source: Readable): Promise<number> {
    let total = 0;
    let frame: { buffer: FrameBuffer; permit: Permit } | undefined;
    try {
      // Before the source is read at all: a stream waiting for the budget
      // holds no buffered bytes of its source.
      frame = await this.take();
      for await (const chunk of source as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length; ) {
          frame ??= await this.take();
          const copied = frame.buffer.fill(chunk, offset);
          offset += copied;
          if (frame.buffer.length === FRAME_BYTES) {
            total += FRAME_BYTES;
            this.send(frame.buffer, frame.permit);
            frame = undefined;
          }
        }
      }
      if (frame && frame.buffer.length > 0) {
        total += frame.buffer.length;
        this.send(frame.buffer, frame.permit);
        frame = undefined;
      }
      return total;
    } finally {
      if (frame) {
        this.pool.put(frame.buffer);
        this.releasePermit(frame.permit);
      }
      source.destroy();
    }
  }

  /** Sends the last frame (end or error) and ends the call. */
  async finish(last: OpenStreamResponse): Promise<void> {
    if (this.signal.aborted) return;
    this.call.write(last);
    this.call.end();
  }

  /** Waits for room in this stream and in the server's budget, then takes a buffer. */
  private async take(): Promise<{ buffer: FrameBuffer; permit: Permit }> {
    while (this.inFlight >= FRAMES_IN_FLIGHT) {
      this.signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    this.signal.throwIfAborted();
    await this.budget.acquire(this.signal);
    const permit = { released: false };
    this.permits.add(permit);
    return { buffer: this.pool.take(), permit };
  }

  private send(buffer: FrameBuffer, permit: Permit): void {
    this.inFlight++;
    this.call.write(frameView(buffer), () => {
      this.inFlight--;
      this.pool.put(buffer);
      this.releasePermit(permit);
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  private releasePermit(permit: Permit): void {
    if (permit.released) return;
    permit.released = true;
    this.permits.delete(permit);
    this.budget.release();
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
