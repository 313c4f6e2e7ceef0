/**
 * The closed set of failure kinds a driver reports. Each one tells the user a
 * different thing to do, so drivers must not fold them together.
 */
export type ErrorCode =
  /** Nothing exists at the key (or the bucket/share/folder is missing). */
  | "not-found"
  /** The credentials were refused or lack a permission. */
  | "permission-denied"
  /** The configuration cannot work as written (bad value, missing field, bad secret). */
  | "invalid-config"
  /** The key is not a valid artifact key. Raised by the core only. */
  | "invalid-key"
  /** The key is taken by something of another kind (a folder where a file should go, ...). */
  | "conflict"
  /** The backend could not be reached (refused connection, unknown host, TLS failure). */
  | "unavailable"
  /** A passing failure worth retrying: 5xx, throttling, reset connection, timeout. */
  | "transient"
  /** Anything else. */
  | "unknown";

/** What to change, per code; appended to every message the core returns. */
export const ERROR_HINTS: Record<ErrorCode, string> = {
  "not-found":
    "Check the key (and bucket or base path) in the artifact, and that an earlier step saved it.",
  "permission-denied":
    "Check the credentials in the configuration and grant them access to this key.",
  "invalid-config": "Fix the plugin configuration of the artifact or artifact repository.",
  "invalid-key": "Use a relative key of '/'-separated names without empty, '.' or '..' segments.",
  conflict: "Remove what occupies the key, or choose another key.",
  unavailable:
    "Check the endpoint or host in the configuration and that it is reachable from the pod.",
  transient: "The backend failed temporarily and retries did not help; try again later.",
  unknown: "See the cause above; if it persists, report it with the plugin's logs.",
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(["transient"]);

/** Thrown by drivers (and the core) with one of the codes above. */
export class DriverError extends Error {
  override readonly name = "DriverError";

  /** Set once retries gave up on this failure, so that no enclosing retry tries again. */
  readonly final: boolean;
  /** What to change, when the code's general hint would point at the wrong thing (e.g. a local path, not a key). */
  readonly hint: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; final?: boolean; hint?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.final = options?.final ?? false;
    this.hint = options?.hint ?? ERROR_HINTS[code];
  }

  get retryable(): boolean {
    return !this.final && RETRYABLE.has(this.code);
  }

  /** The same failure, marked as not to be retried again. */
  asFinal(): DriverError {
    return this.final
      ? this
      : new DriverError(this.code, this.message, {
          cause: this.cause,
          final: true,
          hint: this.hint,
        });
  }
}

/**
 * Wraps anything thrown into a DriverError, keeping DriverErrors as they are.
 * A raw socket error (from a body stream an adapter returned, which no driver
 * code sees fail) is classified as a network failure, so a reset mid-download
 * is retried like any other.
 */
export function asDriverError(error: unknown): DriverError {
  if (error instanceof DriverError) return error;
  if (isAbortError(error))
    return new DriverError("transient", "the call was cancelled", { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  const network = networkErrorCode(error);
  if (network) {
    return new DriverError(network, `the connection to the backend broke (${message})`, {
      cause: error,
    });
  }
  return new DriverError("unknown", message, { cause: error });
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

/** Node's system error codes that mean the backend could not be reached at all. */
const UNREACHABLE_SYSCALL_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
/** ... and those that mean a connection broke mid-way, which a retry may fix. */
const BROKEN_SYSCALL_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "ECONNABORTED"]);

/**
 * Classifies a Node system error (`error.code` such as `ECONNREFUSED`) so that
 * every driver maps network failures the same way; undefined when it is not one.
 */
export function networkErrorCode(error: unknown): ErrorCode | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  if (UNREACHABLE_SYSCALL_CODES.has(code)) return "unavailable";
  if (BROKEN_SYSCALL_CODES.has(code)) return "transient";
  return undefined;
}

/** Node's TLS verification failures: the endpoint answered, but its certificate is not trusted. */
const TLS_VERIFICATION_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * The TLS verification code (e.g. `SELF_SIGNED_CERT_IN_CHAIN`) of `error` or
 * of one of its causes, so every driver can say "not trusted: set the CA"
 * the same way; undefined when it is not such a failure.
 */
export function tlsVerificationCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && TLS_VERIFICATION_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What to change when the failing side is the plugin's local file system, not the storage. */
export const LOCAL_PATH_HINT =
  "The failure is at the local path Argo gave the plugin, not in storage: check the artifact's `path`, and that its folder exists, is writable by the plugin's user and has space left.";

const LOCAL_CODES: Record<string, ErrorCode> = {
  EACCES: "permission-denied",
  EPERM: "permission-denied",
  EROFS: "permission-denied",
  ENOENT: "conflict",
  ENOTDIR: "conflict",
  EISDIR: "conflict",
  EEXIST: "conflict",
  ENOTEMPTY: "conflict",
};

/** A failure of the plugin's own file system (Load's target, Save's source), with the local hint. */
export function localPathError(error: unknown, what: string): DriverError {
  if (error instanceof DriverError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === "string" ? code : "";
  return new DriverError(LOCAL_CODES[name] ?? "unknown", `${what}: ${name || String(error)}`, {
    cause: error,
    hint: LOCAL_PATH_HINT,
  });
}
