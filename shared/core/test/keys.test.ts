import { describe, expect, it } from "vitest";
import { DriverError } from "../src/errors.js";
import { checkRelativePath, normalizeKey } from "../src/keys.js";

describe("normalizeKey", () => {
  it.each([
    ["wf/pod/out.tgz", "wf/pod/out.tgz"],
    ["/wf/pod/out.tgz", "wf/pod/out.tgz"],
    ["wf/pod/dir/", "wf/pod/dir"],
    ["/a/", "a"],
    ["dir with space/ünï 100% #1+2?.txt", "dir with space/ünï 100% #1+2?.txt"],
  ])("accepts %j as %j", (raw, normalized) => {
    expect(normalizeKey(raw)).toBe(normalized);
  });

  it.each([
    ["", /empty/],
    ["/", /empty/],
    ["//a", /empty segment/],
    ["a//b", /empty segment/],
    ["a/b//", /empty segment/],
    ["..", /'\.\.' segment/],
    ["a/../../etc/passwd", /'\.\.' segment/],
    ["./a", /'\.' segment/],
    ["a\0b", /NUL/],
    ["a\\..\\..\\etc\\passwd", /backslash/],
    ["a/b\\c", /backslash/],
    ["line\nbreak", /control character/],
    ["tab\there", /control character/],
    ["c1\u0085next", /control character/],
    ["invoice\u202Efdp.exe", /bidirectional override/],
    ["isolate\u2066x", /bidirectional override/],
  ])("refuses %j", (raw, why) => {
    const error = (() => {
      try {
        normalizeKey(raw);
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(DriverError);
    expect((error as DriverError).code).toBe("invalid-key");
    expect((error as DriverError).message).toMatch(why);
    expect((error as DriverError).message).toContain(JSON.stringify(raw));
  });
});

describe("key length", () => {
  it("accepts 1,024 bytes and refuses one more, counting UTF-8 bytes", () => {
    expect(normalizeKey("k".repeat(1024))).toHaveLength(1024);
    expect(() => normalizeKey("k".repeat(1025))).toThrow(/longer than 1024 bytes/);
    expect(() => normalizeKey("é".repeat(513))).toThrow(/longer than 1024 bytes/);
  });
});

describe("checkRelativePath", () => {
  it("keeps listed names inside the directory", () => {
    expect(checkRelativePath("a/b.txt", "dir")).toBe("a/b.txt");
    for (const bad of ["../x", "a/../../x", "", "a//b", "/abs"]) {
      expect(() => checkRelativePath(bad, "dir")).toThrow(/would leave the directory/);
    }
  });
});
