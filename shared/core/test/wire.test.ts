import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OpenStreamResponse } from "../src/generated/artifact.js";
import { decodeOpenStreamResponse, encodeOpenStreamResponse } from "../src/wire.js";

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
