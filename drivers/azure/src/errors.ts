import {
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
  tlsVerificationCode,
} from "@argo-artifact-drivers/core";
import { CONNECT_TIMEOUT } from "./client.js";

/**
 * Azure error codes (the `x-ms-error-code` header, which HEAD answers carry
 * without any message) translated once at the edge into the core's closed set.
 * The HTTP status decides first where codes differ between services: a wrong
 * key is `AuthenticationFailed` on Azure and `AuthorizationFailure` on Azurite,
 * both 403.
 */
const CONFIG_CODES = new Set([
  "InvalidResourceName",
  "InvalidUri",
  "InvalidHeaderValue",
  "InvalidQueryParameterValue",
  "UnsupportedHeader",
  "InvalidBlobTier",
  "FeatureNotSupportedForAccount",
  "AccountIsDisabled",
]);
const DENIED_CODES = new Set([
  "AuthenticationFailed",
  "AuthorizationFailure",
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationProtocolMismatch",
  "AuthorizationSourceIPMismatch",
  "InvalidAuthenticationInfo",
  "NoAuthenticationInformation",
  "InsufficientAccountPermissions",
]);

/** Why the service refused, in words a workflow author can act on. */
const EXPLANATIONS: Record<string, string> = {
  AuthenticationFailed:
    "the account refused the credentials: the account key or SAS token in accountKeySecret is wrong, expired or for another account",
  AuthorizationFailure:
    "the account refused the credentials: the account key or SAS token in accountKeySecret is wrong, expired, for another account or container, or lacks a permission",
  AuthorizationPermissionMismatch:
    "the credentials lack a permission this call needs (SAS permissions, or an RBAC role such as Storage Blob Data Contributor)",
  AuthorizationResourceTypeMismatch:
    "the SAS token does not cover this kind of resource (its srt= or sr= scope)",
  InvalidAuthenticationInfo: "the service refused the token: check the identity of useSDKCreds",
  BlobArchived:
    "the blob is in the Archive tier and cannot be read until it is rehydrated to Hot, Cool or Cold",
  LeaseIdMissing: "the blob has an active lease held by someone else",
  ConditionNotMet: "the blob was replaced while it was being read",
  InvalidBlobTier: "the account does not accept this accessTier",
};

/** Failures of @azure/identity: no identity could be had for useSDKCreds. */
const IDENTITY_ERRORS = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AuthenticationRequiredError",
  "AggregateAuthenticationError",
]);

export interface Where {
  readonly account: string;
  readonly container: string;
  readonly endpoint: string;
  readonly blob?: string;
}

interface RestErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
}

/** Maps anything the SDK throws to a DriverError whose message says what failed where. */
export function translate(error: unknown, where: Where): DriverError {
  if (error instanceof DriverError) return error;
  const rest = (error ?? {}) as RestErrorLike;
  const cause = scrubbed(error);
  if (rest.name && IDENTITY_ERRORS.has(rest.name)) {
    return new DriverError(
      "permission-denied",
      `useSDKCreds: no Azure AD token could be had (${rest.name})`,
      {
        cause,
        hint: "Set up Workload Identity or a managed identity for the pod, or use accountKeySecret.",
      },
    );
  }
  if (isAbortError(error)) {
    // The SDK reports a connection that broke mid-answer as an AbortError too;
    // when the call itself was cancelled, the core does not retry either way.
    return new DriverError(
      "transient",
      `the request to ${where.endpoint} was cancelled or its connection broke`,
      { cause },
    );
  }
  if (rest.statusCode === undefined) return network(error, rest, where, cause);

  const status = rest.statusCode;
  const code = rest.details?.errorCode ?? rest.code ?? "";
  const detail = [code, `HTTP ${status}`].filter(Boolean).join(", ");
  const explanation = EXPLANATIONS[code];
  const kind = classify(code, status);
  if (code === "ContainerNotFound") {
    return new DriverError(
      "not-found",
      `the container "${where.container}" does not exist in account "${where.account}" (${detail})`,
      {
        cause,
        hint: "Create the container, or fix `container` or `endpoint` in the configuration.",
      },
    );
  }
  if (kind === "not-found") {
    const blob = where.blob === undefined ? "the blob" : `no blob "${where.blob}"`;
    return new DriverError(
      kind,
      `${blob} in container "${where.container}" of account "${where.account}" (${detail})`,
      { cause },
    );
  }
  if (code === "BlobArchived") {
    return new DriverError("conflict", `${explanation} (${detail})`, {
      cause,
      hint: "Rehydrate the blob (Set Blob Tier to Hot or Cool) and try again, or save artifacts with another accessTier.",
    });
  }
  const what = explanation ?? `account "${where.account}" answered`;
  return new DriverError(kind, `${what} (${detail})`, { cause });
}

function classify(code: string, status: number): ErrorCode {
  if (DENIED_CODES.has(code) || status === 401 || status === 403) return "permission-denied";
  if (status === 404) return "not-found";
  if (code === "ConditionNotMet" || status === 429 || status === 408 || status >= 500) {
    return "transient";
  }
  if (CONFIG_CODES.has(code)) return "invalid-config";
  if (status === 409) return "conflict";
  return "unknown";
}

/** Errors without an HTTP answer: connection, TLS and body failures. */
function network(error: unknown, rest: RestErrorLike, where: Where, cause: unknown): DriverError {
  const code = rest.code ?? "";
  const text = firstLine(scrub(rest.message ?? String(error)));
  const tlsCode = tlsVerificationCode(error);
  if (tlsCode) {
    return new DriverError(
      "unavailable",
      `the TLS certificate of ${where.endpoint} is not trusted (${tlsCode}: ${text})`,
      {
        cause,
        hint: "Set caSecret to the CA that signed the endpoint's certificate, or check the endpoint.",
      },
    );
  }
  const kind =
    code === CONNECT_TIMEOUT
      ? "unavailable"
      : (networkErrorCode(error) ?? networkErrorCode((error as { cause?: unknown })?.cause));
  if (kind === "unavailable") {
    return new DriverError("unavailable", `cannot connect to ${where.endpoint} (${text})`, {
      cause,
    });
  }
  if (kind === "transient") {
    return new DriverError("transient", `the connection to ${where.endpoint} broke (${text})`, {
      cause,
    });
  }
  if (/non-TLS|not permitted for non-https/i.test(text)) {
    return new DriverError("invalid-config", text, { cause });
  }
  return new DriverError("unknown", text || "the Azure SDK failed without a message", { cause });
}

/** SAS signatures reach URLs in SDK messages; never pass them on. */
export function scrub(text: string): string {
  return text.replace(/([?&]sig=)[^&\s"']+/gi, "$1REDACTED");
}

/** The SDK's error as the cause, unless its message would leak a signature. */
function scrubbed(error: unknown): unknown {
  if (!(error instanceof Error) || scrub(error.message) === error.message) return error;
  return new Error(scrub(error.message), { cause: error });
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}
