import { DriverError, type ErrorCode } from "@argo-artifact-drivers/core";

/** File system error codes, translated once at the edge. */
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

/** A file system failure as a DriverError; `what` says what was being done. */
export function translate(error: unknown, what: string): DriverError {
  if (error instanceof DriverError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return new DriverError(ERROR_CODES[code] ?? "unknown", `${what}: ${code || String(error)}`, {
    cause: error,
  });
}
