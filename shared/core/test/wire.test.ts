import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OpenStreamResponse } from "../src/generated/artifact.js";
import { encodeOpenStreamResponse } from "../src/wire.js";

describe("encodeOpenStreamResponse", () => {
  it.each([1, 127, 128, 300, 16_383, 16_384, 1024 * 1024, 2 * 1024 * 1024 + 3])(
    "encodes a %i-byte data frame exactly as the generated code does",
    (size) => {
      const message = { data: randomBytes(size), isEnd: false, error: "" };
      const fast = encodeOpenStreamResponse(message);
      expect(fast.equals(Buffer.from(OpenStreamResponse.encode(message).finish()))).toBe(true);
      expect(OpenStreamResponse.decode(fast).data.equals(message.data)).toBe(true);
    },
  );

  it("leaves end and error frames to the generated code", () => {
    for (const message of [
      { data: Buffer.alloc(0), isEnd: true, error: "" },
      { data: Buffer.alloc(0), isEnd: false, error: "Load failed" },
    ]) {
      expect(OpenStreamResponse.decode(encodeOpenStreamResponse(message))).toEqual(message);
    }
  });
});
