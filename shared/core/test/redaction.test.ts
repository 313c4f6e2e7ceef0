import { describe, expect, it } from "vitest";
import { redact, scrub } from "../src/redaction.js";

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
