import { type ServiceError, status } from "@grpc/grpc-js";

/** The RPCs of the ArtifactService, as named in messages. */
export type Operation =
  | "Load"
  | "Save"
  | "Delete"
  | "ListObjects"
  | "IsDirectory"
  | "OpenStream"
  | "SaveStream"
  | "GetCapabilities";

/**
 * Why a call failed:
 * - `plugin`: the plugin answered with an `error` field or `success=false`;
 * - `status`: the call ended with a gRPC error status (the plugin's or the transport's);
 * - `unavailable`: nothing accepted a connection on the socket in time;
 * - `protocol`: the plugin broke the wire contract (e.g. data after `is_end`);
 * - `source`: the local data given to `saveStream` failed.
 */
export type FailureKind = "plugin" | "status" | "unavailable" | "protocol" | "source";

/** Every failure of an ArtifactClient call; `message` is the plugin's own text where it sent one. */
export class ArtifactClientError extends Error {
  override readonly name = "ArtifactClientError";

  constructor(
    readonly operation: Operation,
    readonly kind: FailureKind,
    message: string,
    options: {
      key?: string;
      /** The gRPC status code, when the call ended with one. */
      code?: status;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.key = options.key;
    this.code = options.code;
  }

  readonly key: string | undefined;
  readonly code: status | undefined;

  /** The status code's name (`NOT_FOUND`, ...), when the call ended with one. */
  get codeName(): string | undefined {
    return this.code === undefined ? undefined : status[this.code];
  }
}

/** Throws the plugin's answer to a call that returns `success` and `error` when it is a failure. */
export function checkOutcome(
  operation: Operation,
  key: string,
  success: boolean,
  error: string,
): void {
  if (error !== "") throw new ArtifactClientError(operation, "plugin", error, { key });
  if (!success) {
    throw new ArtifactClientError(
      operation,
      "plugin",
      "the plugin answered success=false without an error message",
      { key },
    );
  }
}

/** A gRPC error status as an ArtifactClientError of kind `status`; other errors stay as they are. */
export function fromGrpcError(
  operation: Operation,
  key: string | undefined,
  error: unknown,
): Error {
  if (error instanceof ArtifactClientError) return error;
  if (isServiceError(error)) {
    const details = error.details || status[error.code] || "no details";
    return new ArtifactClientError(operation, "status", details, {
      key,
      code: error.code,
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

function isServiceError(error: unknown): error is ServiceError {
  return (
    error instanceof Error &&
    typeof (error as Partial<ServiceError>).code === "number" &&
    "details" in error &&
    "metadata" in error
  );
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
