import type { AdapterCache } from "./adapter-cache.js";
import type { ConfigParser } from "./config.js";
import { asDriverError, DriverError } from "./errors.js";
import type { Artifact } from "./generated/artifact.js";
import { normalizeKey } from "./keys.js";
import type { Logger } from "./log.js";
import { scrub } from "./redaction.js";
import { type RetryListener, withRetry } from "./retry.js";
import type { Storage } from "./storage.js";
import { type CallTelemetry, telemetry } from "./telemetry.js";
import type { TransferContext } from "./transfer.js";

export type Operation =
  | "Load"
  | "Save"
  | "Delete"
  | "ListObjects"
  | "IsDirectory"
  | "OpenStream"
  | "SaveStream";

/** What one call works with once its artifact has been checked. */
export interface CallScope {
  key: string;
  storage: Storage;
  signal: AbortSignal;
  transfer: TransferContext;
  /** Retries an idempotent storage call within the call's policy. */
  retried<T>(operation: () => Promise<T>): Promise<T>;
}

/** What a call reports for its log line. */
export interface CallStats {
  bytes?: number;
  files?: number;
}

export interface CallDependencies {
  driverName: string;
  logger: Logger;
  parser: ConfigParser;
  adapters: AdapterCache;
}

export type CallRunner = (
  operation: Operation,
  artifact: Artifact | undefined,
  signal: AbortSignal,
  body: (scope: CallScope) => Promise<CallStats | undefined>,
) => Promise<void>;

/**
 * Runs one call: checks the key, parses the configuration, leases the
 * storage for it, logs one line, and turns any failure into a DriverError
 * whose message names the operation, key and target and says what to change,
 * with every revealed secret scrubbed.
 */
export function callRunner(deps: CallDependencies): CallRunner {
  const { logger } = deps;

  return (operation, artifact, signal, body) => {
    // The call's span: its log lines carry its ids, and spans of the
    // storage calls and retries made inside hang below it.
    const span = telemetry().call(deps.driverName, operation);
    return span.run(() => runCall(operation, artifact, signal, body, span));
  };

  async function runCall(
    operation: Operation,
    artifact: Artifact | undefined,
    signal: AbortSignal,
    body: Parameters<CallRunner>[3],
    span: CallTelemetry,
  ): Promise<void> {
    const started = performance.now();
    const fullKey = artifact?.plugin?.key ?? "";
    const rawKey = shorten(fullKey);
    let target = `plugin "${artifact?.plugin?.name ?? deps.driverName}"`;
    try {
      if (!artifact?.plugin) {
        throw new DriverError(
          "invalid-config",
          "the request carries no plugin artifact (artifact.plugin is empty)",
        );
      }
      const key = normalizeKey(fullKey);
      const config = deps.parser.parse(artifact.plugin.configuration);
      const lease = await deps.adapters.acquire(artifact.plugin.configuration, config);
      const { storage } = lease;
      target = storage.target;
      try {
        const onRetry: RetryListener = (error, attempt, delayMs) =>
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
          );
        const transfer: TransferContext = {
          storage,
          retry: config.retry,
          parallelism: config.parallelism,
          signal,
          onRetry,
        };
        const stats = await body({
          key,
          storage,
          signal,
          transfer,
          retried: (run) => withRetry(config.retry, signal, run, onRetry),
        });
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
        span.end({ key, target, ...stats });
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
      span.end({ key: rawKey, target, code: error.code, error: message });
      throw new DriverError(error.code, message, { cause: error, hint: error.hint });
    }
  }
}

/** The message of a failed call: operation, key, target, what happened, what to change. */
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
  return `${operation} of key ${JSON.stringify(key)} on ${target} failed: ${error.message}${cause} [${error.code}]. ${error.hint}`;
}

export function notFound(key: string): DriverError {
  return new DriverError(
    "not-found",
    `nothing exists at key "${key}" (no object, and no objects under "${key}/")`,
  );
}

/** A key as messages and logs show it: a hostile one may be megabytes long. */
function shorten(key: string): string {
  return key.length > 256 ? `${key.slice(0, 256)}…` : key;
}
