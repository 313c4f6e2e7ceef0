import { type AdapterContext, DriverError } from "@argo-artifact-drivers/core";
import type { S3Config } from "./driver.js";

/** Request fields for server-side encryption, from `encryptionOptions`. */
export interface Encryption {
  /** On PutObject and CreateMultipartUpload. */
  write: {
    ServerSideEncryption?: "AES256" | "aws:kms";
    SSEKMSKeyId?: string;
    SSEKMSEncryptionContext?: string;
    SSECustomerAlgorithm?: string;
    SSECustomerKey?: string;
  };
  /** On every request that touches an SSE-C object's bytes (GET, HEAD, UploadPart). */
  read: { SSECustomerAlgorithm?: string; SSECustomerKey?: string };
}

/** Argo's rules: SSE-KMS with a key ID, else SSE-S3; SSE-C alone, with a 32-byte key. */
export function encryption(config: S3Config, context: AdapterContext): Encryption {
  const options = config.encryptionOptions;
  if (!options) return { write: {}, read: {} };
  const { enableEncryption, kmsKeyId, kmsEncryptionContext, serverSideCustomerKeySecret } = options;
  if (serverSideCustomerKeySecret) {
    if (enableEncryption) {
      throw new DriverError(
        "invalid-config",
        'field "encryptionOptions": serverSideCustomerKeySecret (SSE-C) and enableEncryption (SSE-S3/SSE-KMS) cannot be used together',
      );
    }
    // Bytes, not text: a key of 32 random bytes is rarely valid UTF-8. The
    // core scrubs its base64 form (what the SDK sends) like the key itself.
    const key = customerKey(
      context.secretBytes(serverSideCustomerKeySecret),
      `${serverSideCustomerKeySecret}`,
    );
    const read = { SSECustomerAlgorithm: "AES256", SSECustomerKey: key };
    return { write: read, read };
  }
  if (!enableEncryption) {
    if (kmsKeyId || kmsEncryptionContext) {
      throw new DriverError(
        "invalid-config",
        'field "encryptionOptions": kmsKeyId and kmsEncryptionContext need enableEncryption: true',
      );
    }
    return { write: {}, read: {} };
  }
  if (!kmsKeyId) {
    if (kmsEncryptionContext) {
      throw new DriverError(
        "invalid-config",
        'field "encryptionOptions.kmsEncryptionContext" needs kmsKeyId (it applies to SSE-KMS only)',
      );
    }
    return { write: { ServerSideEncryption: "AES256" }, read: {} };
  }
  return {
    write: {
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: kmsKeyId,
      ...(kmsEncryptionContext
        ? { SSEKMSEncryptionContext: encodeContext(kmsEncryptionContext) }
        : {}),
    },
    read: {},
  };
}

/** The SDK takes the key base64-encoded; Argo's Secrets hold the 32 raw bytes (or their base64). */
function customerKey(value: Buffer, where: string): string {
  if (value.length === 32) return value.toString("base64");
  const text = value.toString("latin1").trim();
  const decoded = Buffer.from(text, "base64");
  if (decoded.length === 32 && decoded.toString("base64") === text) return text;
  throw new DriverError(
    "invalid-config",
    `the SSE-C key in ${where} must be 32 bytes, raw or base64-encoded (it has ${value.length} bytes)`,
  );
}

function encodeContext(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const valid =
    typeof parsed === "object" &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.values(parsed).every((value) => typeof value === "string");
  if (!valid) {
    throw new DriverError(
      "invalid-config",
      'field "encryptionOptions.kmsEncryptionContext" must be a JSON object of strings, e.g. \'{"team":"data"}\'',
    );
  }
  return Buffer.from(text).toString("base64");
}
