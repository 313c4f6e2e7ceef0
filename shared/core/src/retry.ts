import { setTimeout as sleep } from "node:timers/promises";
import { asDriverError, DriverError } from "./errors.js";
import { telemetry, traced } from "./telemetry.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  initialDelaySeconds: number;
  factor: number;
}

export type RetryListener = (error: DriverError, attempt: number, delayMs: number) => void;

/**
 * Runs `operation` until it succeeds, fails with an error that is not
 * retryable, or runs out of attempts, waiting with exponential backoff and
 * ±20% jitter in between (Argo's executor: 5 steps from 1 s, ×1.6). Only for
 * idempotent operations whose input can be replayed.
 *
 * A failure that used up its tries comes out as `exhausted`, which no
 * enclosing retry retries again: a part retried inside a file upload that the
 * core also retries is tried `attempts` times, not `attempts` squared.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  operation: () => Promise<T>,
  onRetry?: RetryListener,
): Promise<T> {
  let delayMs = policy.initialDelaySeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      // Retried attempts get a span of their own, numbered; first attempts do not (noise).
      return attempt === 1
        ? await operation()
        : await traced("retry", { "artifact_driver.attempt": attempt }, operation);
    } catch (thrown) {
      const error = asDriverError(thrown);
      if (!error.retryable || signal.aborted) throw error;
      if (attempt >= policy.attempts) throw exhausted(error, attempt);
      const jittered = Math.round(delayMs * (0.8 + Math.random() * 0.4));
      onRetry?.(error, attempt, jittered);
      telemetry().retry(attempt, error.code, jittered);
      await sleep(jittered, undefined, { signal });
      delayMs *= policy.factor;
    }
  }
}

function exhausted(error: DriverError, attempts: number): DriverError {
  if (attempts <= 1) return error.asFinal();
  return new DriverError(error.code, `${error.message} (after ${attempts} tries)`, {
    cause: error.cause,
    final: true,
    hint: error.hint,
  });
}
