import {
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
  tlsVerificationCode,
} from "@argo-artifact-drivers/core";

/** S3 error codes, translated once at the edge into the core's closed set. */
const NOT_FOUND_CODES = new Set(["NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload"]);
const DENIED_CODES = new Set([
  "AccessDenied",
  "AllAccessDisabled",
  "AccountProblem",
  "ExpiredToken",
  "InvalidAccessKeyId",
  "InvalidClientTokenId",
  "InvalidToken",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
]);
const TRANSIENT_CODES = new Set([
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "ServiceUnavailable",
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "IDPCommunicationError",
]);
const CONFIG_CODES = new Set([
  "AuthorizationHeaderMalformed",
  "InvalidBucketName",
  "InvalidStorageClass",
  "InvalidEncryptionAlgorithmError",
  "KMS.NotFoundException",
  "PermanentRedirect",
  "InvalidLocationConstraint",
  "IllegalLocationConstraintException",
]);

/** Why a code was refused, in words a workflow author can act on. */
const EXPLANATIONS: Record<string, string> = {
  InvalidAccessKeyId: "the endpoint does not know the access key ID",
  InvalidClientTokenId: "the endpoint does not know the access key ID",
  SignatureDoesNotMatch: "the endpoint refused the signature: the secret access key is wrong",
  ExpiredToken: "the session token has expired",
  InvalidToken: "the session token is invalid",
  AuthorizationHeaderMalformed: "the request was signed for the wrong region; check `region`",
  PermanentRedirect: "the bucket is in another region or needs another endpoint; check `region`",
};

interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export interface Where {
  bucket: string;
  endpoint: string;
  key?: string;
}

/** Maps anything the SDK throws to a DriverError whose message says what failed where. */
export function translate(error: unknown, where: Where): DriverError {
  if (error instanceof DriverError) return error;
  if (isAbortError(error)) {
    const timedOut = (error as SdkError).message?.includes("without establishing a connection");
    if (timedOut) {
      return new DriverError(
        "unavailable",
        `cannot connect to ${where.endpoint}: ${message(error)}`,
        {
          cause: error,
        },
      );
    }
    return new DriverError(
      "transient",
      `the request was cancelled or timed out (${message(error)})`,
      {
        cause: error,
      },
    );
  }
  const tlsCode = tlsVerificationCode(error);
  if (tlsCode) {
    return new DriverError(
      "unavailable",
      `the TLS certificate of ${where.endpoint} is not trusted (${tlsCode}: ${message(error)}); set caSecret to its CA, or check the endpoint`,
      { cause: error },
    );
  }
  const network = networkErrorCode(error) ?? networkErrorCode((error as { cause?: unknown }).cause);
  if (network) {
    const verb = network === "unavailable" ? "cannot connect to" : "the connection broke to";
    return new DriverError(network, `${verb} ${where.endpoint} (${message(error)})`, {
      cause: error,
    });
  }
  const sdk = error as SdkError;
  const status = sdk.$metadata?.httpStatusCode ?? sdk.$response?.statusCode;
  const code = sdk.Code ?? sdk.name ?? "";
  const kind = classify(code, status);
  const text =
    kind === undefined ? describe(error, code, status) : explain(kind, code, status, error, where);
  return new DriverError(kind ?? "unknown", text, { cause: bodiless(error, code, status) });
}

/** The first refused key of a DeleteObjects answer (which succeeds as a whole) as a DriverError. */
export function deleteFailure(
  failed: { Code?: string; Message?: string },
  where: Where,
): DriverError {
  const code = failed.Code ?? "Unknown";
  return translate(
    Object.assign(new Error(failed.Message ?? "DeleteObjects refused the key"), {
      name: code,
      Code: code,
    }),
    where,
  );
}

/** A refused CreateBucket, saying which setting asked for it. */
export function bucketCreationFailure(failure: DriverError, bucket: string): DriverError {
  return new DriverError(
    failure.code,
    `cannot create the bucket "${bucket}" (createBucketIfNotPresent): ${failure.message}`,
    { cause: failure.cause },
  );
}

/**
 * Errors of HEAD requests have no body, so the SDK names them "UnknownError";
 * the status says more, and the original stays reachable as the cause's cause.
 */
function bodiless(error: unknown, code: string, status: number | undefined): unknown {
  if (message(error) !== "UnknownError") return error;
  return new Error(describe(error, code, status), { cause: error });
}

function classify(code: string, status: number | undefined): ErrorCode | undefined {
  if (NOT_FOUND_CODES.has(code)) return "not-found";
  if (DENIED_CODES.has(code)) return "permission-denied";
  if (TRANSIENT_CODES.has(code)) return "transient";
  if (CONFIG_CODES.has(code)) return "invalid-config";
  if (status === 404) return "not-found";
  if (status === 401 || status === 403) return "permission-denied";
  if (status === 429 || (status !== undefined && status >= 500)) return "transient";
  if (status === 301 || status === 307) return "invalid-config";
  return undefined;
}

function explain(
  kind: ErrorCode,
  code: string,
  status: number | undefined,
  error: unknown,
  where: Where,
): string {
  const detail = describe(error, code, status);
  if (code === "NoSuchBucket") {
    return `the bucket "${where.bucket}" does not exist at ${where.endpoint} (${detail})`;
  }
  if (kind === "not-found") {
    const key = where.key === undefined ? "" : ` "${where.key}"`;
    return `no object at key${key} in bucket "${where.bucket}" (${detail})`;
  }
  const explanation = EXPLANATIONS[code];
  if (explanation) return `${explanation} (${detail})`;
  if (kind === "permission-denied") {
    return `access to bucket "${where.bucket}" at ${where.endpoint} was denied (${detail})`;
  }
  return `${where.endpoint} answered ${detail}`;
}

/** `Code: message, HTTP status`, without the SDK's filler for bodiless (HEAD) responses. */
function describe(error: unknown, code: string, status: number | undefined): string {
  const text = message(error);
  const parts = [code && code !== "Unknown" ? code : undefined];
  if (text && text !== code && text !== "UnknownError") parts.push(text);
  const head = parts.filter(Boolean).join(": ");
  const http = status === undefined ? "" : `HTTP ${status}`;
  return [head, http].filter(Boolean).join(", ") || "no details";
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
