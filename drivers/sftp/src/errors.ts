import { DriverError, type ErrorCode, networkErrorCode } from "@argo-artifact-drivers/core";

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as the `code` of ssh2's request errors. */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** Set by this driver when the SSH connection ended while a request was waiting for its answer. */
export class ConnectionLost extends Error {
  override readonly name = "ConnectionLost";
}

export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  [SFTP_STATUS.NO_SUCH_FILE]: "not-found",
  [SFTP_STATUS.PERMISSION_DENIED]: "permission-denied",
  [SFTP_STATUS.NO_CONNECTION]: "transient",
  [SFTP_STATUS.CONNECTION_LOST]: "transient",
};

/**
 * Translates an SFTP request failure into a DriverError naming what failed.
 * `what` says the action and the remote path, e.g. `cannot open "/data/a.txt"`.
 */
export function requestError(error: unknown, what: string): DriverError {
  if (error instanceof DriverError) return error;
  if (error instanceof ConnectionLost) {
    return new DriverError("transient", `${what}: ${error.message}`, { cause: error });
  }
  const status = statusOf(error);
  const reason = error instanceof Error ? error.message : String(error);
  let code: ErrorCode = "unknown";
  if (status !== undefined) code = CODE_BY_STATUS[status] ?? "unknown";
  else
    code =
      networkErrorCode(error) ?? (reason === "No response from server" ? "transient" : "unknown");
  const detail =
    code === "not-found"
      ? "no such file or folder"
      : code === "permission-denied"
        ? "permission denied by the server"
        : reason;
  return new DriverError(code, `${what}: ${detail}`, { cause: error });
}
