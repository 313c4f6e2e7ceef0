import {
  DriverError,
  type ErrorCode,
  isAbortError,
  networkErrorCode,
  tlsVerificationCode,
} from "@argo-artifact-drivers/core";

/** HTTP statuses, translated once at the edge into the core's closed set. */
const STATUS_CODES: Record<number, ErrorCode> = {
  401: "permission-denied",
  403: "permission-denied",
  404: "not-found",
  409: "conflict",
  412: "conflict",
  423: "transient",
  429: "transient",
  408: "transient",
};

/** What a status means at a WebDAV server, in words a workflow author can act on. */
const EXPLANATIONS: Record<number, string> = {
  401: "the server refused the credentials: check usernameSecret, passwordSecret, authType or bearerTokenSecret",
  403: "the server denied access to this path for these credentials",
  404: "nothing is at this path",
  405: "the server does not allow this method here: is WebDAV enabled at `url`?",
  409: "a parent collection is missing or is a file",
  412: "the server refused to replace what is at the destination",
  413: "the server refused the body as too large (e.g. Apache's LimitRequestBody, nginx's client_max_body_size)",
  423: "the path is locked by another WebDAV client",
  507: "the server has no space left (insufficient storage)",
};

/** An HTTP answer the operation cannot use, e.g. `PUT https://host/dav/a.txt` answered 409. */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";

  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    /** A short server message from the response body (Sabre/Nextcloud `<s:message>`), if any. */
    readonly detail: string,
  ) {
    super(
      `${method} ${url} answered HTTP ${status}${statusText ? ` ${statusText}` : ""}${detail ? `: ${detail}` : ""}`,
    );
  }
}

/** The code of an HTTP status: 5xx and locks are passing, most 4xx are not. */
export function statusCode(status: number): ErrorCode {
  const known = STATUS_CODES[status];
  if (known) return known;
  if (status >= 500) return "transient";
  if (status >= 300 && status < 400) return "invalid-config";
  return "unknown";
}

/** Maps a failed request (a status, a socket error, a TLS refusal, a timeout) to a DriverError naming the URL. */
export function translate(error: unknown, method: string, url: string): DriverError {
  if (error instanceof DriverError) return error;
  if (error instanceof HttpStatusError) {
    const explanation =
      error.status >= 300 && error.status < 400
        ? "the server redirects this path; set `url` to the address it redirects to"
        : (EXPLANATIONS[error.status] ?? (error.status >= 500 ? "the server failed" : ""));
    return new DriverError(
      statusCode(error.status),
      explanation ? `${error.message} (${explanation})` : error.message,
      { cause: error },
    );
  }
  if (isAbortError(error)) {
    return new DriverError("transient", `${method} ${url} was cancelled`, { cause: error });
  }
  const code = tlsVerificationCode(error);
  if (code) {
    return new DriverError(
      "unavailable",
      `the TLS certificate of ${origin(url)} is not trusted (${code}: ${message(error)}); set caSecret to the CA that signed it`,
      { cause: error },
    );
  }
  // The request stream closed under the body: the server (or something on the
  // way) dropped the connection, e.g. a keep-alive socket it had just timed out.
  if ((error as { code?: unknown } | null)?.code === "ERR_STREAM_PREMATURE_CLOSE") {
    return new DriverError(
      "transient",
      `the connection closed during ${method} ${url} before the server answered`,
      { cause: error },
    );
  }
  const network = networkErrorCode(error);
  if (network === "unavailable") {
    return new DriverError(
      "unavailable",
      `cannot connect to ${origin(url)} (${message(error)}); check \`url\` and that the server is reachable from the pod`,
      { cause: error },
    );
  }
  if (network === "transient") {
    return new DriverError(
      "transient",
      `the connection broke during ${method} ${url} (${message(error)})`,
      {
        cause: error,
      },
    );
  }
  return new DriverError("unknown", `${method} ${url} failed: ${message(error)}`, {
    cause: error,
  });
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
