import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { redact, redactSecret, scrub } from "../src/redaction.js";

describe("redaction", () => {
  it("scrubs registered values and their JSON-escaped forms, not short ones", () => {
    redact('pa"ss\\word-1');
    redact("abc");
    const line = JSON.stringify({ msg: 'login with pa"ss\\word-1 failed', other: "abc" });
    expect(scrub(line)).toBe(JSON.stringify({ msg: "login with REDACTED failed", other: "abc" }));
    expect(scrub('raw pa"ss\\word-1 here')).toBe("raw REDACTED here");
  });

  it("keeps a bounded number of values, the newest", () => {
    for (let i = 0; i < 1100; i++) redact(`rotated-${i}-secret`);
    expect(scrub("rotated-1099-secret")).toBe("REDACTED");
    expect(scrub("rotated-0-secret")).toBe("rotated-0-secret");
  });
});

describe("redaction of a secret's bytes", () => {
  it("scrubs a binary key's base64 and hex forms, and a text secret trimmed", () => {
    const key = randomBytes(32);
    redactSecret(key);
    const line = `sent x-amz-server-side-encryption-customer-key: ${key.toString("base64")} (${key.toString("hex")})`;
    expect(scrub(line)).toBe("sent x-amz-server-side-encryption-customer-key: REDACTED (REDACTED)");
    redactSecret(Buffer.from("  token-with-newline\n"));
    expect(scrub("Bearer token-with-newline")).toBe("Bearer REDACTED");
  });

  it("keeps a value that is still used however many others come after it", () => {
    redact("still-in-use-secret");
    for (let i = 0; i < 3000; i++) {
      redact(`one-off-${i}-value`);
      // Each call resolves its secrets again, which makes them the newest.
      if (i % 500 === 0) redact("still-in-use-secret");
    }
    expect(scrub("still-in-use-secret")).toBe("REDACTED");
  });

  it("scrubs a value that contains another one without leaving a remnant", () => {
    redact("inner-value");
    redact("outer-inner-value-end");
    expect(scrub("x outer-inner-value-end y")).toBe("x REDACTED y");
  });
});
