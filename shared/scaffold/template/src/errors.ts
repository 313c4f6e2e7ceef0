import { DriverError, type ErrorCode, networkErrorCode } from "@argo-artifact-drivers/core";

/**
 * The backend's error codes, translated once at the edge.
 * BACKEND: replace these file system codes with the SDK's (HTTP statuses,
 * error names): each to the core code that tells the user what to change.
 */
const ERROR_CODES: Record<string, ErrorCode> = {
  ENOENT: "not-found",
  EACCES: "permission-denied",
  EPERM: "permission-denied",
  EROFS: "permission-denied",
  EISDIR: "conflict",
  ENOTDIR: "conflict",
  EEXIST: "conflict",
  ENOTEMPTY: "conflict",
  ENOSPC: "transient",
  EMFILE: "transient",
};

/** A backend failure as a DriverError; `what` says what was being done. */
export function translate(error: unknown, what: string): DriverError {
  if (error instanceof DriverError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  // Socket failures (refused, reset, unknown host) mean the same for every driver.
  const kind = ERROR_CODES[code] ?? networkErrorCode(error) ?? "unknown";
  return new DriverError(kind, `${what}: ${code || String(error)}`, { cause: error });
}
