import { lstat } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { type ServerWritableStream, type StatusObject, status } from "@grpc/grpc-js";
import type { StorageAdapter } from "./adapter.js";
import type { AdapterCache } from "./adapters.js";
import type { CommonConfig, ConfigParser } from "./config.js";
import { asDriverError, DriverError, ERROR_HINTS, type ErrorCode } from "./errors.js";
import type {
  Artifact,
  ArtifactServiceServer,
  OpenStreamRequest,
  OpenStreamResponse,
  SaveStreamArtifactRequest,
} from "./generated/artifact.js";
import { normalizeKey } from "./keys.js";
import type { Logger } from "./log.js";
import { withRetry } from "./retry.js";
import type { SecretResolver } from "./secrets.js";
import { loadFile, loadTree, saveFile, saveTree, type TransferContext } from "./transfer.js";

/**
 * OpenStream frame size: under gRPC's 4 MiB default message limit, and the
 * upper end of what Argo expects (1-2 MiB), which streamed about 30% faster
 * than 1 MiB frames.
 */
export const FRAME_BYTES = 2 * 1024 * 1024;
/** How long a SaveStream that ended waits for a late cancellation before it commits. */
const CANCEL_GRACE_MS = 50;
/** Frames handed to gRPC but not yet flushed; bounds memory whatever the artifact's size. */
const FRAMES_IN_FLIGHT = 2;

type Operation =
  | "Load"
  | "Save"
  | "Delete"
  | "ListObjects"
  | "IsDirectory"
  | "OpenStream"
  | "SaveStream";

/** What one call works with once its artifact has been checked. */
interface CallScope {
  key: string;
  adapter: StorageAdapter;
  config: CommonConfig;
  signal: AbortSignal;
  transfer: TransferContext;
}

/** What a call reports for its log line. */
interface CallStats {
  bytes?: number;
  files?: number;
}

export interface ServiceDependencies {
  driverName: string;
  logger: Logger;
  parser: ConfigParser;
  adapters: AdapterCache;
  secrets: SecretResolver;
}

/**
 * Translates each ArtifactService RPC into adapter calls, with the semantics
 * Argo's executor and argo-server rely on (CONTRACT.md section 2). gRPC types
 * stop here. Failures are answered in the response's `error` field (Argo
 * treats it like an error status; SaveStream answers with a status, see
 * there) and never escape a handler, so the server keeps serving after any
 * bad request.
 */
export function createArtifactService(deps: ServiceDependencies): ArtifactServiceServer {
  const { logger } = deps;

  /** Runs one call: checks the key, parses the configuration, leases the adapter, logs one line. */
  async function run(
    operation: Operation,
    artifact: Artifact | undefined,
    signal: AbortSignal,
    body: (scope: CallScope) => Promise<CallStats | undefined>,
  ): Promise<void> {
    const started = performance.now();
    const rawKey = artifact?.plugin?.key ?? "";
    let target = `plugin "${artifact?.plugin?.name ?? deps.driverName}"`;
    try {
      if (!artifact?.plugin) {
        throw new DriverError(
          "invalid-config",
          "the request carries no plugin artifact (artifact.plugin is empty)",
        );
      }
      const key = normalizeKey(rawKey);
      const config = deps.parser.parse(artifact.plugin.configuration);
      const lease = await deps.adapters.acquire(artifact.plugin.configuration, config);
      target = lease.adapter.target;
      try {
        const transfer: TransferContext = {
          adapter: lease.adapter,
          retry: config.retry,
          parallelism: config.parallelism,
          signal,
          onRetry: (error, attempt, delayMs) =>
            logger.warn(
              {
                op: operation,
                key,
                target,
                attempt,
                delayMs,
                code: error.code,
                error: scrub(error.message),
              },
              "retrying",
            ),
        };
        const stats = await body({ key, adapter: lease.adapter, config, signal, transfer });
        logger.info(
          {
            op: operation,
            key,
            target,
            ...stats,
            durationMs: Math.round(performance.now() - started),
            outcome: "ok",
          },
          `${operation} ok`,
        );
      } finally {
        lease.release();
      }
    } catch (thrown) {
      const error = asDriverError(thrown);
      const message = scrub(describeFailure(operation, rawKey, target, error));
      logger.warn(
        {
          op: operation,
          key: rawKey,
          target,
          durationMs: Math.round(performance.now() - started),
          outcome: "error",
          code: error.code,
          error: message,
        },
        `${operation} failed`,
      );
      throw new DriverError(error.code, message, { cause: error });
    }
  }

  /** Removes every secret value handed out from a message, whatever produced it. */
  function scrub(message: string): string {
    let clean = message;
    for (const value of deps.secrets.revealed) clean = clean.replaceAll(value, "REDACTED");
    return clean;
  }

  /** Retries an idempotent adapter call within the call's policy. */
  function retried<T>(scope: CallScope, operation: () => Promise<T>): Promise<T> {
    return withRetry(scope.config.retry, scope.signal, operation, scope.transfer.onRetry);
  }

  /** The message of a failed call: operation, key, target, what happened, what to change. */
  function errorText(error: unknown): string {
    return error instanceof DriverError ? error.message : scrub(String(error));
  }

  return {
    load(call, callback) {
      const signal = callSignal(call);
      const { inputArtifact, path } = call.request;
      run("Load", inputArtifact, signal, async (scope) => {
        if (path === "")
          throw new DriverError("invalid-config", "the request has no local path to load into");
        const kind = await retried(scope, () => scope.adapter.stat(scope.key, signal));
        if (kind === "missing") throw notFound(scope.key);
        return kind === "file"
          ? loadFile(scope.transfer, scope.key, path)
          : loadTree(scope.transfer, scope.key, path);
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    save(call, callback) {
      const signal = callSignal(call);
      const { outputArtifact, path } = call.request;
      run("Save", outputArtifact, signal, async (scope) => {
        const local = await lstat(path).catch((cause: unknown) => {
          throw new DriverError(
            "not-found",
            `the local path "${path}" to save does not exist or cannot be read`,
            { cause },
          );
        });
        if (local.isDirectory()) return saveTree(scope.transfer, path, scope.key);
        await saveFile(scope.transfer, path, scope.key, local.size);
        return { bytes: local.size, files: 1 };
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    delete(call, callback) {
      const signal = callSignal(call);
      run("Delete", call.request.artifact, signal, async (scope) => {
        const kind = await retried(scope, () => scope.adapter.stat(scope.key, signal));
        if (kind === "file") await retried(scope, () => scope.adapter.delete(scope.key, signal));
        if (kind === "directory")
          await retried(scope, () => scope.adapter.deletePrefix(scope.key, signal));
        return undefined;
      }).then(
        () => callback(null, { success: true, error: "" }),
        (error) => callback(null, { success: false, error: errorText(error) }),
      );
    },

    listObjects(call, callback) {
      const signal = callSignal(call);
      let objects: string[] = [];
      run("ListObjects", call.request.artifact, signal, async (scope) => {
        const kind = await retried(scope, () => scope.adapter.stat(scope.key, signal));
        if (kind === "missing") throw notFound(scope.key);
        objects =
          kind === "file"
            ? [scope.key]
            : await retried(scope, () => Array.fromAsync(scope.adapter.list(scope.key, signal)));
        return { files: objects.length };
      }).then(
        () => callback(null, { objects, error: "" }),
        (error) => callback(null, { objects: [], error: errorText(error) }),
      );
    },

    isDirectory(call, callback) {
      const signal = callSignal(call);
      let isDirectory = false;
      run("IsDirectory", call.request.artifact, signal, async (scope) => {
        isDirectory =
          (await retried(scope, () => scope.adapter.stat(scope.key, signal))) === "directory";
        return undefined;
      }).then(
        () => callback(null, { isDirectory, error: "" }),
        (error) => callback(null, { isDirectory: false, error: errorText(error) }),
      );
    },

    openStream(call) {
      const signal = callSignal(call);
      const frames = new FrameWriter(call, signal);
      run("OpenStream", call.request.artifact, signal, async (scope) => {
        const source = await retried(scope, () => scope.adapter.read(scope.key, signal));
        const bytes = await frames.sendAll(source);
        return { bytes };
      })
        .then(() => frames.finish({ data: Buffer.alloc(0), isEnd: true, error: "" }))
        .catch((error: unknown) =>
          frames.finish({ data: Buffer.alloc(0), isEnd: false, error: errorText(error) }),
        )
        .catch(() => call.destroy());
    },

    saveStream(call, callback) {
      const signal = callSignal(call);
      const frames = call[Symbol.asyncIterator]() as AsyncIterator<SaveStreamArtifactRequest>;
      frames
        .next()
        .then((first) => {
          const artifact = first.done ? undefined : first.value.outputArtifact;
          let bytes = 0;
          return run("SaveStream", artifact, signal, async (scope) => {
            const leading = first.done ? undefined : first.value.chunk;
            async function* chunks(): AsyncGenerator<Buffer> {
              if (leading && leading.length > 0) {
                bytes += leading.length;
                yield leading;
              }
              for (;;) {
                const next = await nextUnlessAborted(frames, signal);
                if (next.done) {
                  // A Node (grpc-js) client's cancel sends END_STREAM just
                  // before RST_STREAM, so the stream looks complete for a
                  // moment: wait briefly for a cancellation before committing.
                  // (grpc-go, Argo's client, sends RST_STREAM alone.)
                  await sleep(CANCEL_GRACE_MS);
                  signal.throwIfAborted();
                  return;
                }
                if (next.value.chunk.length === 0) continue;
                bytes += next.value.chunk.length;
                yield next.value.chunk;
              }
            }
            // Not retried: the stream cannot be replayed. The adapter's write is
            // atomic, so a broken stream leaves nothing at the key.
            await scope.adapter.write(scope.key, Readable.from(chunks(), { objectMode: false }), {
              signal,
            });
            return { bytes };
          });
        })
        .then(
          () => callback(null, { success: true, error: "" }),
          // A status, not success=false: when the plugin answers before the
          // client has sent everything, Argo's client only sees EOF on Send
          // and reads the reason from the status CloseAndRecv returns.
          (error) => callback(statusOf(error)),
        );
    },

    getCapabilities(_call, callback) {
      callback(null, { supportsSaveStream: true });
    },
  };
}

/**
 * The next frame, or the abort reason if the call is cancelled first. grpc-js
 * destroys a cancelled call's stream without ending its iterator, so the write
 * would otherwise wait forever. (Not `Promise.race` with one long-lived abort
 * promise: every race would leave a reaction on it holding its frame, and
 * memory would grow with the artifact.)
 */
function nextUnlessAborted<T>(
  frames: AsyncIterator<T>,
  signal: AbortSignal,
): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    frames.next().then(
      (next) => {
        signal.removeEventListener("abort", onAbort);
        resolve(next);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

const STATUS_OF_CODE: Record<ErrorCode, status> = {
  "not-found": status.NOT_FOUND,
  "permission-denied": status.PERMISSION_DENIED,
  "invalid-config": status.INVALID_ARGUMENT,
  "invalid-key": status.INVALID_ARGUMENT,
  conflict: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  transient: status.UNAVAILABLE,
  unknown: status.UNKNOWN,
};

/** A failed call as a gRPC status whose details are the call's message. */
function statusOf(error: unknown): Partial<StatusObject> {
  const failure = asDriverError(error);
  return { code: STATUS_OF_CODE[failure.code], details: failure.message };
}

function notFound(key: string): DriverError {
  return new DriverError(
    "not-found",
    `nothing exists at key "${key}" (no object, and no objects under "${key}/")`,
  );
}

function describeFailure(
  operation: Operation,
  key: string,
  target: string,
  error: DriverError,
): string {
  const cause =
    error.cause instanceof Error &&
    error.cause.message &&
    !error.message.includes(error.cause.message)
      ? ` (${error.cause.message.split("\n")[0]})`
      : "";
  return `${operation} of key ${JSON.stringify(key)} on ${target} failed: ${error.message}${cause} [${error.code}]. ${ERROR_HINTS[error.code]}`;
}

/** An AbortSignal that fires when the client cancels the call or the server force-stops. */
function callSignal(call: { on(event: "cancelled", listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  call.on("cancelled", () =>
    controller.abort(new DriverError("transient", "the client cancelled the call")),
  );
  return controller.signal;
}

/**
 * Re-chunks a byte stream into OpenStream frames of FRAME_BYTES and keeps at
 * most FRAMES_IN_FLIGHT of them queued in gRPC: a slow client slows the
 * source down instead of growing the server's memory.
 */
class FrameWriter {
  private inFlight = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly call: ServerWritableStream<OpenStreamRequest, OpenStreamResponse>,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", () => this.wake?.(), { once: true });
  }

  async sendAll(source: Readable): Promise<number> {
    let total = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        while (pendingBytes >= FRAME_BYTES) {
          const joined =
            pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
          await this.send(joined.subarray(0, FRAME_BYTES));
          total += FRAME_BYTES;
          const rest = joined.subarray(FRAME_BYTES);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      }
      if (pendingBytes > 0) {
        await this.send(Buffer.concat(pending, pendingBytes));
        total += pendingBytes;
      }
      return total;
    } finally {
      source.destroy();
    }
  }

  /** Sends the last frame (end or error) and ends the call. */
  async finish(last: OpenStreamResponse): Promise<void> {
    if (this.signal.aborted) return;
    this.call.write(last);
    this.call.end();
  }

  private async send(data: Buffer): Promise<void> {
    while (this.inFlight >= FRAMES_IN_FLIGHT) {
      if (this.signal.aborted) throw this.signal.reason;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    if (this.signal.aborted) throw this.signal.reason;
    this.inFlight++;
    this.call.write({ data, isEnd: false, error: "" }, () => {
      this.inFlight--;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }
}
