import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { ConfigParser } from "../src/config.js";
import { SecretRef, secretRef } from "../src/secrets.js";

const parser = new ConfigParser({
  bucket: z.string().describe("Bucket"),
  endpoint: z.string().optional(),
  accessKeySecret: secretRef().optional(),
  encryptionOptions: z.strictObject({ enableEncryption: z.boolean().default(false) }).optional(),
});

function message(text: string): string {
  try {
    parser.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("ConfigParser", () => {
  it("parses YAML and JSON, with the common fields' defaults", () => {
    const yaml = parser.parse("bucket: artifacts\nendpoint: http://127.0.0.1:9000\n");
    expect(yaml).toMatchObject({
      bucket: "artifacts",
      parallelism: 8,
      retry: { attempts: 5, initialDelaySeconds: 1, factor: 1.6 },
    });
    expect(parser.parse('{"bucket": "artifacts", "parallelism": 2}')).toMatchObject({
      bucket: "artifacts",
      parallelism: 2,
    });
  });

  it("turns secret fields into references", () => {
    const config = parser.parse("bucket: b\naccessKeySecret: {name: creds, key: accessKey}\n");
    expect(config.accessKeySecret).toBeInstanceOf(SecretRef);
    expect(String(config.accessKeySecret)).toBe('Kubernetes Secret "creds" key "accessKey"');
  });

  it("names an unknown field and suggests the closest known one", () => {
    expect(message("bucket: b\nendpiont: x\n")).toBe(
      'invalid configuration: unknown field "endpiont"; did you mean "endpoint"?',
    );
    expect(message("bucket: b\nencryptionOptions: {enableEncription: true}\n")).toBe(
      'invalid configuration: unknown field "enableEncription" in field "encryptionOptions"; did you mean "enableEncryption"?',
    );
    expect(message("bucket: b\nzzzzzz: 1\n")).toBe('invalid configuration: unknown field "zzzzzz"');
  });

  it("names missing fields and wrong types", () => {
    expect(message("endpoint: x\n")).toBe('invalid configuration: field "bucket" is required');
    expect(message("bucket: 3\n")).toMatch(
      /^invalid configuration: field "bucket": .*expected string/,
    );
    expect(message("bucket: b\nparallelism: 0\n")).toMatch(/field "parallelism"/);
    expect(message("bucket: b\naccessKeySecret: plain-text-key\n")).toMatch(
      /field "accessKeySecret": expected a secret reference/,
    );
  });

  it("points at the line of a YAML syntax error", () => {
    expect(message("bucket: b\nendpoint: [unclosed\n")).toMatch(
      /not valid YAML or JSON at line \d/,
    );
    expect(message("- a list\n")).toMatch(/expected a mapping of fields/);
  });

  it("caches by the exact string", () => {
    expect(parser.parse("bucket: cached")).toBe(parser.parse("bucket: cached"));
  });

  it("refuses a configuration over 64 KiB, or nested too deep, before parsing it", () => {
    const huge = `bucket: artifacts\nendpoint: "${"x".repeat(70_000)}"\n`;
    expect(message(huge)).toMatch(/bytes, more than the 65536 allowed/);
    const deep = `bucket: artifacts\nendpoint: ${"[".repeat(20_000)}${"]".repeat(20_000)}\n`;
    const started = performance.now();
    expect(message(deep)).toMatch(/nested more than 32 levels deep/);
    expect(performance.now() - started).toBeLessThan(100);
    expect(
      parser.parse('{"bucket": "a", "encryptionOptions": {"enableEncryption": true}}'),
    ).toMatchObject({
      encryptionOptions: { enableEncryption: true },
    });
  });

  it("answers a refused configuration from the cache for a while, then parses it again", () => {
    let now = 1_000_000;
    const clock = vi.spyOn(Date, "now").mockImplementation(() => now);
    try {
      const brief = new ConfigParser({ bucket: z.string() }, 64, 10_000);
      const first = (() => {
        try {
          brief.parse("buckt: a");
        } catch (e) {
          return e;
        }
      })();
      const second = (() => {
        try {
          brief.parse("buckt: a");
        } catch (e) {
          return e;
        }
      })();
      expect(second).toBe(first);
      now += 10_001;
      const third = (() => {
        try {
          brief.parse("buckt: a");
        } catch (e) {
          return e;
        }
      })();
      expect(third).not.toBe(first);
      expect((third as Error).message).toMatch(/did you mean "bucket"/);
    } finally {
      clock.mockRestore();
    }
  });
});
