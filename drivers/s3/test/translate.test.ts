import { DriverError } from "@argo-artifact-drivers/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { s3Config } from "../src/driver.js";
import { translate } from "../src/errors.js";

// Failures moto cannot be made to produce (throttling, 5xx, broken
// connections), shaped as the SDK and Node throw them.
const where = { bucket: "art", endpoint: "https://s3.example.com", key: "a/b.tgz" };

function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

describe("S3 error translation", () => {
  it.each([
    [sdkError("NoSuchKey", 404), "not-found"],
    [sdkError("NotFound", 404, "UnknownError"), "not-found"],
    [sdkError("NoSuchBucket", 404), "not-found"],
    [sdkError("AccessDenied", 403), "permission-denied"],
    [sdkError("Unknown", 403, "UnknownError"), "permission-denied"],
    [sdkError("InvalidAccessKeyId", 403), "permission-denied"],
    [sdkError("SignatureDoesNotMatch", 403), "permission-denied"],
    [sdkError("ExpiredToken", 400), "permission-denied"],
    [sdkError("SlowDown", 503), "transient"],
    [sdkError("InternalError", 500), "transient"],
    [sdkError("ServiceUnavailable", 503), "transient"],
    [sdkError("Unknown", 502, "UnknownError"), "transient"],
    [sdkError("TooManyRequests", 429), "transient"],
    [sdkError("RequestTimeout", 400), "transient"],
    [sdkError("PermanentRedirect", 301), "invalid-config"],
    [sdkError("AuthorizationHeaderMalformed", 400), "invalid-config"],
    [systemError("ECONNRESET"), "transient"],
    [systemError("ETIMEDOUT"), "transient"],
    [systemError("ECONNREFUSED"), "unavailable"],
    [systemError("ENOTFOUND"), "unavailable"],
    [systemError("DEPTH_ZERO_SELF_SIGNED_CERT"), "unavailable"],
    [
      Object.assign(
        new Error("Socket timed out without establishing a connection within 5000 ms"),
        {
          name: "TimeoutError",
        },
      ),
      "unavailable",
    ],
    [
      Object.assign(new Error("Connection timed out after 120000 ms"), { name: "TimeoutError" }),
      "transient",
    ],
    [sdkError("WeirdNewError", 400), "unknown"],
  ])("%s is %s", (error, code) => {
    const translated = translate(error, where);
    expect(translated).toBeInstanceOf(DriverError);
    expect(translated.code).toBe(code);
    expect(translated.message).not.toBe("");
  });

  it("names the bucket and endpoint of a missing bucket, the key of a missing object", () => {
    expect(translate(sdkError("NoSuchBucket", 404), where).message).toContain(
      'the bucket "art" does not exist at https://s3.example.com',
    );
    expect(translate(sdkError("NoSuchKey", 404), where).message).toContain(
      'no object at key "a/b.tgz" in bucket "art"',
    );
  });

  it("keeps the SDK error as the cause, and replaces the SDK's 'UnknownError' of bodiless answers", () => {
    const original = sdkError("Unknown", 403, "UnknownError");
    const translated = translate(original, where);
    expect(translated.message).toContain("HTTP 403");
    expect(translated.message).not.toContain("UnknownError");
    expect((translated.cause as Error).cause).toBe(original);
    const plain = sdkError("AccessDenied", 403, "Access Denied");
    expect(translate(plain, where).cause).toBe(plain);
  });
});

describe("configuration schema", () => {
  /** The paths of fields, nested ones included, without a `.describe()` doc line. */
  function undocumented(shape: z.ZodRawShape, prefix = ""): string[] {
    return Object.entries(shape).flatMap(([name, schema]) => {
      const path = `${prefix}${name}`;
      const missing = z.globalRegistry.get(schema)?.description ? [] : [path];
      let inner: z.core.$ZodType = schema;
      while ("innerType" in inner._zod.def) inner = inner._zod.def.innerType as z.core.$ZodType;
      return inner instanceof z.ZodObject
        ? [...missing, ...undocumented(inner.shape, `${path}.`)]
        : missing;
    });
  }

  it("documents every field", () => {
    expect(undocumented(s3Config)).toEqual([]);
  });

  it("accepts Argo's s3 artifact repository fields", () => {
    const parsed = z.strictObject(s3Config).parse({
      endpoint: "minio:9000",
      bucket: "my-bucket",
      region: "us-west-2",
      insecure: true,
      addressingStyle: "virtual-hosted",
      accessKeySecret: { name: "s3", key: "accessKey" },
      secretKeySecret: { name: "s3", key: "secretKey" },
      sessionTokenSecret: { name: "s3", key: "sessionToken" },
      roleARN: "arn:aws:iam::123456789012:role/artifacts",
      useSDKCreds: true,
      caSecret: { name: "s3", key: "ca.crt" },
      encryptionOptions: {
        enableEncryption: true,
        kmsKeyId: "alias/a",
        kmsEncryptionContext: "{}",
        serverSideCustomerKeySecret: { name: "s3", key: "ssec" },
      },
      createBucketIfNotPresent: { objectLocking: true },
    });
    expect(parsed.bucket).toBe("my-bucket");
    expect(parsed.uploadConcurrency).toBeGreaterThanOrEqual(4);
  });
});
