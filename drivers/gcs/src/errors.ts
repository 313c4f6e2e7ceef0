import {
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
  tlsVerificationCode,
} from "@argo-artifact-drivers/core";
import { CONNECT_TIMEOUT_CODE } from "./http.js";

/** Where a failed call was going, for messages. */
export interface Where {
  bucket: string;
  endpoint: string;
  key?: string;
  /** A bucket-level call (listing): a 404 there means the bucket is missing. */
  listing?: boolean;
}

/** The SDK's own codes for checksum mismatches (downloads; uploads, which it deletes). */
const CHECKSUM_CODES = new Set(["CONTENT_DOWNLOAD_MISMATCH", "FILE_NO_UPLOAD"]);

/**
 * What the SDK throws, in all its shapes: ApiError (`code` is the HTTP
 * status), GaxiosError (`status`, `response.status`), plain objects from a
 * failed resumable upload, node-fetch errors with a system `code`.
 */
interface SdkError {
  code?: unknown;
  status?: unknown;
  message?: unknown;
  response?: { status?: unknown };
  errors?: { reason?: unknown; message?: unknown }[];
  cause?: unknown;
}

/** Maps anything the SDK throws to a DriverError whose message says what failed where. */
export function translate(error: unknown, where: Where): DriverError {
  if (error instanceof DriverError) return error;
  const sdk = (typeof error === "object" && error !== null ? error : {}) as SdkError;
  const text = describe(sdk, error);
  const cause = cleanCause(error, text);
  if (isAbortError(error)) {
    return new DriverError("transient", `the request was cancelled (${text})`, { cause });
  }
  const code = systemCode(sdk);
  if (code === CONNECT_TIMEOUT_CODE) {
    return new DriverError("unavailable", `cannot connect to ${where.endpoint}: ${text}`, {
      cause,
    });
  }
  const tlsCode = tlsVerificationCode(error) ?? tlsVerificationCode({ code });
  if (tlsCode) {
    return new DriverError(
      "unavailable",
      `the TLS certificate of ${where.endpoint} is not trusted (${tlsCode}: ${text})`,
      {
        cause,
        hint: "Check the endpoint; for a private CA, add it to the plugin container's trust store (NODE_EXTRA_CA_CERTS).",
      },
    );
  }
  if (typeof sdk.code === "string" && CHECKSUM_CODES.has(sdk.code)) {
    const direction = sdk.code === "FILE_NO_UPLOAD" ? "uploaded" : "downloaded";
    return new DriverError(
      "transient",
      `the ${direction} bytes of ${object(where)} do not match the CRC32C checksum of the object (${sdk.code}); nothing was kept`,
      { cause },
    );
  }
  const network = code === undefined ? undefined : networkErrorCode({ code });
  if (network) {
    const verb = network === "unavailable" ? "cannot connect to" : "the connection broke to";
    return new DriverError(network, `${verb} ${where.endpoint} (${text})`, { cause });
  }
  const status = httpStatus(sdk);
  const kind = classify(status);
  if (kind === undefined) {
    return new DriverError("unknown", `${where.endpoint} answered ${text}`, { cause });
  }
  return new DriverError(kind, explain(kind, status, text, where), { cause });
}

function classify(status: number | undefined): ErrorCode | undefined {
  if (status === undefined) return undefined;
  if (status === 404) return "not-found";
  if (status === 401 || status === 403) return "permission-denied";
  if (status === 408 || status === 429 || status >= 500) return "transient";
  if (status === 409 || status === 412) return "conflict";
  if (status === 400) return "invalid-config";
  return undefined;
}

function explain(kind: ErrorCode, status: number | undefined, text: string, where: Where) {
  const missingBucket = /bucket does not exist/i.test(text) || where.listing === true;
  if (kind === "not-found" && missingBucket) {
    return `the bucket "${where.bucket}" does not exist at ${where.endpoint} (${text})`;
  }
  if (kind === "not-found") return `no ${object(where)} (${text})`;
  if (status === 401) {
    return `${where.endpoint} refused the credentials for bucket "${where.bucket}" (${text})`;
  }
  if (kind === "permission-denied") {
    return `access to ${object(where)} at ${where.endpoint} was denied (${text})`;
  }
  if (status === 412) {
    return `a precondition on ${object(where)} failed: it changed during the call (${text})`;
  }
  if (kind === "transient") return `${where.endpoint} failed temporarily (${text})`;
  return `${where.endpoint} refused the request for ${object(where)} (${text})`;
}

function object(where: Where): string {
  return where.key === undefined
    ? `bucket "${where.bucket}"`
    : `object "${where.key}" in bucket "${where.bucket}"`;
}

function httpStatus(sdk: SdkError): number | undefined {
  for (const value of [sdk.code, sdk.status, sdk.response?.status]) {
    if (typeof value === "number" && value >= 100 && value < 600) return value;
    if (typeof value === "string" && /^\d{3}$/.test(value)) return Number(value);
  }
  return undefined;
}

/**
 * Node's system code (`ECONNRESET`, ...) of the error or its cause. The SDK
 * sometimes keeps only the text ("Retry limit exceeded - request to ...
 * failed, reason: write ECONNRESET"), so the message is read too.
 */
function systemCode(sdk: SdkError): string | undefined {
  for (const candidate of [sdk, sdk.cause as SdkError | undefined]) {
    const code = candidate?.code;
    if (typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  }
  const text = typeof sdk.message === "string" ? sdk.message : "";
  return /reason: (?:\w+ )?(E[A-Z]{3,}|GCS_CONNECT_TIMEOUT)\b/.exec(text)?.[1];
}

/** The SDK's message and the API's reason, without upload session IDs (they authorize uploads). */
function describe(sdk: SdkError, error: unknown): string {
  const parts: string[] = [];
  const raw = typeof sdk.message === "string" ? sdk.message : String(error);
  const message = raw.replace(/\s+/g, " ").trim();
  if (message) parts.push(message);
  const detail = sdk.errors?.[0];
  const reason = typeof detail?.reason === "string" ? detail.reason : undefined;
  if (reason && !message.includes(reason)) parts.push(reason);
  const status = httpStatus(sdk);
  if (status !== undefined && !message.includes(String(status))) parts.push(`HTTP ${status}`);
  return redact(parts.join(", ") || "no details");
}

/**
 * The core quotes a cause's message when the DriverError's does not contain
 * it: a cause whose message needed cleaning is replaced by its clean copy
 * (the original stays reachable as that copy's cause).
 */
function cleanCause(error: unknown, text: string): unknown {
  if (!(error instanceof Error) || text.includes(error.message)) return error;
  return new Error(redact(error.message.replace(/\s+/g, " ").trim()), { cause: error });
}

export function redact(text: string): string {
  return text.replace(/(upload_id=)[^&\s"']+/g, "$1REDACTED");
}
