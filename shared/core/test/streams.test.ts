import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { Readable } from "node:stream";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { OpenStreamRequest, OpenStreamResponse } from "../src/generated/artifact.js";
import { Budget, FRAME_BYTES, FrameWriter } from "../src/streams.js";
import { decodeOpenStreamResponse, encodeOpenStreamResponse, FramePool } from "../src/wire.js";

type Call = ServerWritableStream<OpenStreamRequest, OpenStreamResponse>;

/**
 * A call that does what grpc-js does with a frame (encode it, copy it into its
 * own framing at once) and holds each write's callback until `flush`, like a
 * client that has not read yet.
 */
class FakeCall extends EventEmitter {
  readonly received: Buffer[] = [];
  readonly pending: (() => void)[] = [];
  write(message: OpenStreamResponse, callback?: () => void): boolean {
    const copy = Buffer.from(encodeOpenStreamResponse(message));
    this.received.push(decodeOpenStreamResponse(copy).data);
    if (callback) this.pending.push(callback);
    return true;
  }
  end(): void {}
  flush(): void {
    for (const callback of this.pending.splice(0)) callback();
  }
  asCall(): Call {
    return this as unknown as Call;
  }
}

/** A source that yields `data` in chunks of `chunk` bytes, like an HTTP body. */
function source(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
    })(),
  );
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("Budget", () => {
  it("hands out at most its limit, in request order, and forgets aborted waiters", async () => {
    const budget = new Budget(2);
    const never = new AbortController().signal;
    await budget.acquire(never);
    await budget.acquire(never);
    const order: string[] = [];
    const cancelled = new AbortController();
    const first = budget.acquire(never).then(() => order.push("first"));
    const gone = budget.acquire(cancelled.signal).catch(() => order.push("gone"));
    const last = budget.acquire(never).then(() => order.push("last"));
    await tick();
    expect(order).toEqual([]);
    cancelled.abort(new Error("cancelled"));
    await gone;
    budget.release();
    await first;
    budget.release();
    await last;
    expect(order).toEqual(["gone", "first", "last"]);
    expect(budget.inUse).toBe(2);
  });
});

describe("FrameWriter", () => {
  it("keeps frames in flight over all streams within the server's budget, bytes intact", async () => {
    const budget = new Budget(3);
    const pool = new FramePool(FRAME_BYTES, 2);
    const streams = Array.from({ length: 8 }, () => ({
      call: new FakeCall(),
      data: randomBytes(3 * FRAME_BYTES + 12_345),
    }));
    const signal = new AbortController().signal;
    const sending = streams.map(({ call, data }) =>
      new FrameWriter(call.asCall(), signal, budget, pool).sendAll(source(data)),
    );
    let done = false;
    const all = Promise.all(sending).then((totals) => {
      done = true;
      return totals;
    });
    let most = 0;
    while (!done) {
      await tick();
      const outstanding = streams.reduce((sum, { call }) => sum + call.pending.length, 0);
      most = Math.max(most, outstanding, budget.inUse);
      expect(budget.inUse).toBeLessThanOrEqual(3);
      // A client reads one stream's frames at a time.
      streams.find(({ call }) => call.pending.length > 0)?.call.flush();
    }
    expect(most).toBeLessThanOrEqual(3);
    expect(await all).toEqual(streams.map(({ data }) => data.length));
    for (const { call, data } of streams) {
      call.flush();
      expect(Buffer.concat(call.received).equals(data)).toBe(true);
      expect(call.received.slice(0, -1).every((frame) => frame.length === FRAME_BYTES)).toBe(true);
    }
    expect(budget.inUse).toBe(0);
  });

  it("gives back the permits of a cancelled call, whose writes grpc-js never completes", async () => {
    const budget = new Budget(4);
    const call = new FakeCall();
    const controller = new AbortController();
    const sending = new FrameWriter(call.asCall(), controller.signal, budget).sendAll(
      source(randomBytes(5 * FRAME_BYTES)),
    );
    while (call.pending.length < 2) await tick();
    expect(budget.inUse).toBe(2);
    controller.abort(new Error("cancelled"));
    await expect(sending).rejects.toThrow("cancelled");
    expect(budget.inUse).toBe(0);
    call.flush();
    expect(budget.inUse).toBe(0);
  });

  it("gives back its permits when the call closes", async () => {
    const budget = new Budget(4);
    const call = new FakeCall();
    const total = await new FrameWriter(
      call.asCall(),
      new AbortController().signal,
      budget,
    ).sendAll(source(randomBytes(FRAME_BYTES + 1)));
    expect(total).toBe(FRAME_BYTES + 1);
    expect(budget.inUse).toBe(2);
    call.emit("close");
    expect(budget.inUse).toBe(0);
  });
});
