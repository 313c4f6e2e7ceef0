import { randomBytes } from "node:crypto";
import { DriverError } from "@argo-artifact-drivers/core";
import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { customerKey, FastCrc32c, parseServiceAccountKey } from "../src/client.js";
import { crc32cImplementation, javascriptCrc32c } from "../src/crc32c.js";
import { gcsConfig } from "../src/driver.js";
import { translate } from "../src/errors.js";

// Failures the emulator cannot be made to produce, shaped as the SDK throws them.
const where = { bucket: "art", endpoint: "https://storage.googleapis.com", key: "a/b.tgz" };

/** nodejs-common's ApiError: `code` is the HTTP status, `errors` the API's reasons. */
function apiError(code: number, message: string, reason?: string): Error {
  return Object.assign(new Error(message), {
    name: "ApiError",
    code,
    errors: reason ? [{ reason, message }] : [],
  });
}

/** gaxios: `status` and `response.status`, `code` a string. */
function gaxiosError(status: number, message: string): Error {
  return Object.assign(new Error(message), {
    name: "GaxiosError",
    status,
    code: String(status),
    response: { status },
  });
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

describe("GCS error translation", () => {
  it.each([
    [apiError(404, "No such object: art/a/b.tgz", "notFound"), "not-found"],
    [apiError(401, "Invalid Credentials", "authError"), "permission-denied"],
    [
      apiError(403, "a@p.iam does not have storage.objects.get access", "forbidden"),
      "permission-denied",
    ],
    [apiError(412, "Precondition Failed", "conditionNotMet"), "conflict"],
    [apiError(409, "Conflict", "conflict"), "conflict"],
    [apiError(429, "rate limit", "rateLimitExceeded"), "transient"],
    [apiError(500, "Backend Error", "backendError"), "transient"],
    [apiError(503, "Service Unavailable"), "transient"],
    [apiError(400, "Invalid argument: storageClass", "invalid"), "invalid-config"],
    [gaxiosError(503, "Service Unavailable"), "transient"],
    [gaxiosError(403, "Forbidden"), "permission-denied"],
    // A resumable upload's final answer: a plain object, not an Error.
    [{ code: 503, message: "Upload failed", errors: [{ reason: "backendError" }] }, "transient"],
    [{ status: 404, message: "Not Found" }, "not-found"],
    [Object.assign(new Error("mismatch"), { code: "CONTENT_DOWNLOAD_MISMATCH" }), "transient"],
    [Object.assign(new Error("mismatch"), { code: "FILE_NO_UPLOAD" }), "transient"],
    [systemError("ECONNRESET"), "transient"],
    [systemError("ETIMEDOUT"), "transient"],
    [systemError("ECONNREFUSED"), "unavailable"],
    [systemError("ENOTFOUND"), "unavailable"],
    [systemError("GCS_CONNECT_TIMEOUT"), "unavailable"],
    [systemError("DEPTH_ZERO_SELF_SIGNED_CERT"), "unavailable"],
    [
      new Error("Retry limit exceeded - request to https://x/upload failed, reason: write EPIPE"),
      "transient",
    ],
    [
      Object.assign(new Error("request to https://x failed"), { cause: systemError("ECONNRESET") }),
      "transient",
    ],
    [Object.assign(new Error("The operation was aborted"), { name: "AbortError" }), "transient"],
    [apiError(418, "I'm a teapot"), "unknown"],
    [new Error("something new"), "unknown"],
  ])("%s is %s", (error, code) => {
    const translated = translate(error, where);
    expect(translated).toBeInstanceOf(DriverError);
    expect(translated.code).toBe(code);
    expect(translated.message).not.toBe("");
  });

  it("names the bucket of a missing bucket, the object and bucket of a missing object", () => {
    expect(
      translate(apiError(404, "The specified bucket does not exist."), where).message,
    ).toContain('the bucket "art" does not exist at https://storage.googleapis.com');
    expect(translate(apiError(404, "Not Found"), { ...where, listing: true }).message).toContain(
      'the bucket "art" does not exist',
    );
    expect(translate(apiError(404, "No such object: art/a/b.tgz"), where).message).toContain(
      'no object "a/b.tgz" in bucket "art"',
    );
    expect(translate(apiError(403, "denied"), where).message).toContain(
      'access to object "a/b.tgz" in bucket "art" at https://storage.googleapis.com was denied',
    );
  });

  it("never repeats an upload session's ID, in the message or in the cause the core quotes", () => {
    const url =
      "https://storage.googleapis.com/upload/storage/v1/b/art/o?uploadType=resumable&upload_id=ADPycdsSECRET&name=x";
    const translated = translate(
      Object.assign(new Error(`request to ${url} failed, reason: read ECONNRESET`), {
        code: "ECONNRESET",
      }),
      where,
    );
    expect(translated.message).toContain("upload_id=REDACTED");
    expect(translated.message).not.toContain("ADPycdsSECRET");
    expect((translated.cause as Error).message).not.toContain("ADPycdsSECRET");
    expect(((translated.cause as Error).cause as Error).message).toContain("ADPycdsSECRET");
  });
});

describe("secrets", () => {
  it("a CSEK is 32 bytes, raw or base64", () => {
    expect(customerKey(Buffer.from("0123456789abcdef0123456789abcdef"), "s")).toEqual(
      Buffer.from("0123456789abcdef0123456789abcdef"),
    );
    const raw = Buffer.alloc(32, 9);
    expect(customerKey(Buffer.from(raw.toString("base64")), "s")).toEqual(raw);
    expect(customerKey(Buffer.from(`${raw.toString("base64")}\n`), "s")).toEqual(raw);
    expect(() => customerKey(Buffer.from("short"), "s")).toThrow(/must be 32 bytes/);
    expect(() => customerKey(Buffer.from(Buffer.alloc(31).toString("base64")), "s")).toThrow(
      /must be 32 bytes/,
    );
  });

  it("a service-account key must be a service_account JSON with a PEM private key", () => {
    expect(() => parseServiceAccountKey("{", "Secret s")).toThrow(/is not JSON/);
    expect(() => parseServiceAccountKey("[]", "Secret s")).toThrow(/is not a JSON object/);
    expect(() =>
      parseServiceAccountKey(JSON.stringify({ type: "external_account" }), "Secret s"),
    ).toThrow(/has type "external_account"/);
    expect(() =>
      parseServiceAccountKey(
        JSON.stringify({ type: "service_account", private_key: "x" }),
        "Secret s",
      ),
    ).toThrow(/has no "client_email"/);
  });

  it("the JavaScript CRC32C (what images without the native add-on run) equals the native one", () => {
    expect(crc32cImplementation).toBe("native");
    expect(javascriptCrc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    const data = randomBytes(1 << 20);
    expect(javascriptCrc32c(data)).toBe(nativeCrc32c(data) >>> 0);
    // Chained across pieces of every length mod 8, as streams arrive.
    let chained = 0;
    for (let start = 0, size = 1; start < data.length; start += size, size = (size % 13) + 1) {
      chained = javascriptCrc32c(data.subarray(start, start + size), chained);
    }
    expect(chained).toBe(nativeCrc32c(data) >>> 0);
  });

  it("the SDK's CRC32C interface reports the JSON API's values", () => {
    // The empty string and "hello world" as GCS reports them.
    expect(new FastCrc32c().toString()).toBe("AAAAAA==");
    const hello = new FastCrc32c();
    hello.update(Buffer.from("hello "));
    hello.update(Buffer.from("world"));
    expect(hello.toString()).toBe("yZRlqg==");
    expect(hello.validate("yZRlqg==")).toBe(true);
    expect(hello.validate("AAAAAA==")).toBe(false);
  });
});

describe("configuration schema", () => {
  function undocumented(shape: z.ZodRawShape): string[] {
    return Object.entries(shape).flatMap(([name, schema]) =>
      z.globalRegistry.get(schema)?.description ? [] : [name],
    );
  }

  it("documents every field", () => {
    expect(undocumented(gcsConfig)).toEqual([]);
  });

  it("accepts Argo's gcs artifact repository fields as they are", () => {
    const parsed = z.strictObject(gcsConfig).parse({
      bucket: "my-bucket",
      serviceAccountKeySecret: { name: "my-gcs-credentials", key: "serviceAccountKey" },
    });
    expect(parsed.bucket).toBe("my-bucket");
    expect(parsed.resumableThreshold).toBe(8 * 1024 * 1024);
    expect(parsed.listPageSize).toBe(1000);
  });

  it("refuses values GCS would refuse", () => {
    const schema = z.strictObject(gcsConfig);
    expect(schema.safeParse({ bucket: "Upper_Case" }).success).toBe(false);
    expect(schema.safeParse({ bucket: "b-1", chunkSize: 1000 }).success).toBe(false);
    expect(schema.safeParse({ bucket: "b-1", chunkSize: 512 * 1024 }).success).toBe(true);
    expect(schema.safeParse({ bucket: "b-1", listPageSize: 5000 }).success).toBe(false);
    expect(schema.safeParse({ bucket: "b-1", endpoint: "ftp://x" }).success).toBe(false);
    expect(schema.safeParse({ bucket: "b-1", kmsKeyName: "my-key" }).success).toBe(false);
  });
});
