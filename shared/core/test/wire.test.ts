import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { OpenStreamResponse } from "../src/generated/artifact.js";
import {
  decodeOpenStreamResponse,
  encodeOpenStreamResponse,
  FRAMES_IN_PLACE,
  FramePool,
  frameView,
  writeCoalesced,
} from "../src/wire.js";

describe("encodeOpenStreamResponse", () => {
  it.each([1, 127, 128, 300, 16_383, 16_384, 1024 * 1024, 2 * 1024 * 1024 + 3])(
    "encodes a %i-byte data frame exactly as the generated code does",
    (size) => {
      const message = { data: randomBytes(size), isEnd: false, error: "" };
      const fast = encodeOpenStreamResponse(message);
      expect(fast.equals(Buffer.from(OpenStreamResponse.encode(message).finish()))).toBe(true);
      expect(OpenStreamResponse.decode(fast).data.equals(message.data)).toBe(true);
      expect(decodeOpenStreamResponse(fast)).toEqual(message);
    },
  );

  it("leaves end and error frames to the generated code", () => {
    for (const message of [
      { data: Buffer.alloc(0), isEnd: true, error: "" },
      { data: Buffer.alloc(0), isEnd: false, error: "Load failed" },
    ]) {
      expect(OpenStreamResponse.decode(encodeOpenStreamResponse(message))).toEqual(message);
      expect(decodeOpenStreamResponse(encodeOpenStreamResponse(message))).toEqual(message);
    }
  });
});

describe("decodeOpenStreamResponse", () => {
  it("decodes frames with more than the data field like the generated code", () => {
    const mixed = Buffer.from(
      OpenStreamResponse.encode({ data: Buffer.from("abc"), isEnd: true, error: "" }).finish(),
    );
    expect(decodeOpenStreamResponse(mixed)).toEqual({
      data: Buffer.from("abc"),
      isEnd: true,
      error: "",
    });
    const truncated = encodeOpenStreamResponse({
      data: Buffer.alloc(300, 1),
      isEnd: false,
      error: "",
    }).subarray(0, 100);
    expect(() => decodeOpenStreamResponse(truncated)).toThrow();
  });
});

describe("frameView", () => {
  it.each([1, 127, 128, 16_384, 2 * 1024 * 1024])(
    "encodes a %i-byte frame built in place exactly as the generated code does",
    (size) => {
      const pool = new FramePool(2 * 1024 * 1024, 1);
      const buffer = pool.take();
      const data = randomBytes(size);
      expect(buffer.fill(data, 0)).toBe(size);
      const encoded = Buffer.from(encodeOpenStreamResponse(frameView(buffer)));
      expect(
        encoded.equals(
          Buffer.from(OpenStreamResponse.encode({ data, isEnd: false, error: "" }).finish()),
        ),
      ).toBe(true);
    },
  );
});

describe("grpcMessage", () => {
  it("is gRPC's length-prefixed message around the protobuf encoding, in the frame's own memory", () => {
    // If a grpc-js upgrade moves the internals, frames are copied again: this says so.
    expect(FRAMES_IN_PLACE).toBe(true);
    const pool = new FramePool(1024 * 1024, 1);
    const buffer = pool.take();
    const data = randomBytes(300_000);
    buffer.fill(data, 0);
    const message = buffer.grpcMessage();
    const protobuf = Buffer.from(
      OpenStreamResponse.encode({ data, isEnd: false, error: "" }).finish(),
    );
    expect(message[0]).toBe(0);
    expect(message.readUInt32BE(1)).toBe(protobuf.length);
    expect(message.subarray(5).equals(protobuf)).toBe(true);
    expect(message.buffer).toBe(buffer.bytes.buffer);
  });
});

describe("writeCoalesced", () => {
  it("writes every byte in order, in a few large writes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "coalesced-"));
    try {
      const data = randomBytes(10 * 1024 * 1024 + 7);
      const path = join(dir, "out.bin");
      const file = await open(path, "w");
      let writes = 0;
      const writev = file.writev.bind(file);
      file.writev = (buffers, position) => {
        writes++;
        return writev(buffers, position);
      };
      const chunks = Readable.from(
        (function* () {
          for (let at = 0; at < data.length; at += 16 * 1024)
            yield data.subarray(at, at + 16 * 1024);
        })(),
      );
      expect(await writeCoalesced(chunks, file, new AbortController().signal)).toBe(data.length);
      await file.close();
      expect((await readFile(path)).equals(data)).toBe(true);
      expect(writes).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
