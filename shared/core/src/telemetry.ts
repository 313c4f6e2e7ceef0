import type { Logger } from "./log.js";
import { scrub } from "./redaction.js";

/**
 * The core's tracing and metrics hooks. OpenTelemetry (the
 * @argo-artifact-drivers/telemetry package) is imported only when an OTLP
 * endpoint is configured, as Argo configures its own: until then every hook
 * is the no-op below, so a plugin without an endpoint starts and transfers
 * exactly as before.
 */
export type Attributes = Record<string, string | number | boolean>;

/** A span in progress: code run by `run` creates its spans below it. */
export interface SpanScope {
  run<T>(work: () => T): T;
  end(error?: unknown): void;
}

/** How a call ended, for its span's attributes and the metrics. */
export interface CallOutcome {
  key: string;
  target: string;
  bytes?: number;
  files?: number;
  /** The DriverError code when the call failed. */
  code?: string;
  /** The failure message, already scrubbed. */
  error?: string;
}

export interface CallTelemetry {
  run<T>(work: () => T): T;
  end(outcome: CallOutcome): void;
}

export interface Telemetry {
  readonly enabled: boolean;
  /** Runs `work` in the trace context the caller sent in its gRPC metadata (W3C traceparent). */
  withCaller<T>(header: (name: string) => string | undefined, work: () => T): T;
  /** The server span and metrics of one RPC. */
  call(driver: string, operation: string): CallTelemetry;
  /** A span for a phase of the core's own work (a directory walk, a retried attempt). */
  span(name: string, attributes: Attributes): SpanScope;
  /** Counts a retry and notes it on the current span. */
  retry(attempt: number, code: string, delayMs: number): void;
  /** trace_id and span_id of the current span, for log lines (a new object: the logger adds to it). */
  logFields(): Record<string, string>;
  /** Exports what is pending; the process exits next. */
  shutdown(): Promise<void>;
}

const NO_SPAN: SpanScope & CallTelemetry = {
  run: (work) => work(),
  end: () => {},
};

const disabled: Telemetry = {
  enabled: false,
  withCaller: (_header, work) => work(),
  call: () => NO_SPAN,
  span: () => NO_SPAN,
  retry: () => {},
  // A new object each time: pino merges the line's fields into it.
  logFields: () => ({}),
  shutdown: async () => {},
};

let current: Telemetry = disabled;

export function telemetry(): Telemetry {
  return current;
}

/** Installs telemetry hooks: what startTelemetry does once OpenTelemetry is loaded (and tests, with a recorder). */
export function useTelemetry(hooks: Telemetry | undefined): void {
  current = hooks ?? disabled;
}

/** Whether the environment asks for traces or metrics, by the variables Argo documents. */
export function telemetryRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT ||
      env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
      env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
  );
}

/**
 * Loads OpenTelemetry when the environment asks for it. A telemetry that
 * cannot start (an unknown protocol) is logged and left off: artifacts
 * matter more than traces.
 */
export async function startTelemetry(driver: string, logger: Logger): Promise<void> {
  if (!telemetryRequested() || current.enabled) return;
  try {
    const { createTelemetry } = await import("@argo-artifact-drivers/telemetry");
    const hooks = await createTelemetry({
      driver,
      scrub,
      env: process.env,
      warn: (message, error) => logger.warn({ err: error }, message),
    });
    useTelemetry(hooks);
    logger.info(telemetryDescription(), "OpenTelemetry export on");
  } catch (error) {
    logger.warn({ err: error }, "OpenTelemetry could not start: no traces or metrics are exported");
  }
}

function telemetryDescription(): Record<string, string> {
  const env = process.env;
  const fields: Record<string, string> = {};
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const metrics = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (traces) fields.traces = scrub(traces);
  if (metrics) fields.metrics = scrub(metrics);
  return fields;
}

/** Runs `work` in a child span when telemetry is on; otherwise just runs it. */
export async function traced<T>(
  name: string,
  attributes: Attributes,
  work: () => Promise<T>,
): Promise<T> {
  if (!current.enabled) return work();
  const span = current.span(name, attributes);
  try {
    const result = await span.run(work);
    span.end();
    return result;
  } catch (error) {
    span.end(error);
    throw error;
  }
}
