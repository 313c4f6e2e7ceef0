import { setTimeout as sleep } from "node:timers/promises";
import { asDriverError, type DriverError } from "./errors.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  initialDelaySeconds: number;
  factor: number;
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not
 * retryable, or runs out of attempts, waiting with exponential backoff and
 * ±20% jitter in between (Argo's executor: 5 steps from 1 s, ×1.6).
 * Only for idempotent operations whose input can be replayed.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  operation: () => Promise<T>,
  onRetry?: (error: DriverError, attempt: number, delayMs: number) => void,
): Promise<T> {
  let delayMs = policy.initialDelaySeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (thrown) {
      const error = asDriverError(thrown);
      if (!error.retryable || attempt >= policy.attempts || signal.aborted) throw error;
      const jittered = Math.round(delayMs * (0.8 + Math.random() * 0.4));
      onRetry?.(error, attempt, jittered);
      await sleep(jittered, undefined, { signal });
      delayMs *= policy.factor;
    }
  }
}
